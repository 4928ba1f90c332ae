"""``GET …/value?expand=true``: references resolved as the same caller, so a token
reads nothing through a reference that it could not read directly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from strongroom import Action, SecretsManager
from strongroom.http import create_app

API = "/api/v1/secrets"


@pytest.fixture
def client(sm: SecretsManager) -> Iterator[TestClient]:
    with TestClient(create_app(sm)) as test_client:
        yield test_client


def _bearer(sm: SecretsManager, **binding: Any) -> dict[str, str]:
    token = sm.tokens.create(scopes=["secrets:reveal"], **binding).token
    return {"Authorization": f"Bearer {token}"}


def test_value_resolves_references_when_expand_is_true(
    sm: SecretsManager, client: TestClient
) -> None:
    sm.create("db/password", "hunter2")
    sm.create("dsn", "postgres://app:${db/password}@db")
    headers = _bearer(sm)

    expanded = client.get(f"{API}/by-name/dsn/value?expand=true", headers=headers)
    raw = client.get(f"{API}/by-name/dsn/value", headers=headers)

    assert expanded.json()["value"] == "postgres://app:hunter2@db"
    assert raw.json()["value"] == "postgres://app:${db/password}@db"
    revealed = [e.name for e in sm.audit(action=Action.REVEALED)]
    assert sorted(revealed) == ["db/password", "dsn", "dsn"]


def test_value_refuses_a_reference_outside_the_namespace_when_the_token_is_bound(
    sm: SecretsManager, client: TestClient
) -> None:
    sm.create("root-password", "the-crown-jewels")
    sm.create("other", "theirs", namespace="team-b")
    sm.create("sneaky", "x=${root-password}", namespace="team-a")
    sm.create("sideways", "x=${team-b/other}", namespace="team-a")
    bound = _bearer(sm, namespace="team-a")

    for name in ("sneaky", "sideways"):
        got = client.get(
            f"{API}/by-name/{name}/value?namespace=team-a&expand=true", headers=bound
        )
        assert got.status_code == 403, got.text
        assert "crown-jewels" not in got.text
        assert "theirs" not in got.text
    # Read directly, the value is still the caller's to see.
    direct = client.get(f"{API}/by-name/sneaky/value?namespace=team-a", headers=bound)
    assert direct.json()["value"] == "x=${root-password}"


def test_value_refuses_a_restricted_target_when_the_token_is_bound_to_another_app(
    sm: SecretsManager, client: TestClient
) -> None:
    sm.create("billing-key", "bk", allowed_apps=["billing"], envs=["prod"])
    sm.create("web-config", "k=${billing-key}")
    web = _bearer(sm, app="web", env="prod")

    got = client.get(f"{API}/by-name/web-config/value?expand=true", headers=web)

    assert got.status_code == 403
    assert "value" not in got.json()
    assert "'web-config' -> 'billing-key'" in got.json()["error"]


def test_value_answers_400_naming_the_chain_when_references_cycle(
    sm: SecretsManager, client: TestClient
) -> None:
    sm.create("a", "value-a ${b}")
    sm.create("b", "value-b ${a}")

    got = client.get(f"{API}/by-name/a/value?expand=true", headers=_bearer(sm))

    assert got.status_code == 400
    assert "'a' -> 'b' -> 'a'" in got.json()["error"]
    assert "value-" not in got.text
