"""The HTTP API against an outsider: input the store cannot hold, bindings that must
fail closed, ambiguous paths, and failures that must not look like success."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from strongroom import SecretsManager, StoreUnavailableError
from strongroom.http import create_app

API = "/api/v1/secrets"
EVERYTHING = ["secrets:read", "secrets:write", "secrets:reveal"]


@pytest.fixture
def client(sm: SecretsManager) -> Iterator[TestClient]:
    with TestClient(create_app(sm)) as test_client:
        yield test_client


def _bearer(sm: SecretsManager, *scopes: str, **binding: str) -> dict[str, str]:
    token = sm.tokens.create(scopes=list(scopes or EVERYTHING), **binding).token
    return {"Authorization": f"Bearer {token}"}


def _reads_answer(client: TestClient, headers: dict[str, str]) -> None:
    for path in (API, API + "/stats", API + "/audit", API + "?limit=2"):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)


# ------------------------------------------------------------------ input


@pytest.mark.parametrize(
    "body",
    [
        {"description": "a\u0000b"},
        {"description": "a\ud800"},
        {"token_type": "a\u0000"},
        {"allowed_apps": ["a\u0000"]},
        {"envs": ["\u202eprod"]},
        {"tags": {"k\u0000": "v"}},
        {"tags": {"k": "v\u0000"}},
        {"expires_at": "9999-12-31T23:59:59-12:00"},
        {"expires_at": "0001-01-01T00:00:00+14:00"},
        {"value": "a\ud800"},
        {"value": {"k": "\udc00"}},
        {"value": {"n": 10**30}},
    ],
)
def test_writes_the_store_cannot_hold_are_400_and_reads_keep_working_when_posted(
    client: TestClient, sm: SecretsManager, body: dict[str, Any]
) -> None:
    bound = _bearer(sm, namespace="evil")
    admin = _bearer(sm)

    # JSON text escapes what UTF-8 cannot carry, as an attacker's client would.
    response = client.post(
        API,
        content=json.dumps({"name": "x", "value": "v", "namespace": "evil", **body}),
        headers={**bound, "Content-Type": "application/json"},
    )

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error"
    assert not sm.exists("x", namespace="evil")
    _reads_answer(client, admin)
    _reads_answer(client, bound)


def test_validation_errors_name_the_field_and_the_rule_when_refused(
    client: TestClient, sm: SecretsManager
) -> None:
    response = client.post(
        API,
        json={"name": "x", "value": "s3cret", "description": "s3cret\u0000"},
        headers=_bearer(sm),
    )

    error = response.json()["error"]
    assert "body.description" in error
    assert "NUL" in error
    assert "s3cret" not in error


def test_merge_patches_holding_lone_surrogates_are_400_when_sent(
    client: TestClient, sm: SecretsManager
) -> None:
    sm.patch("flags", {"a": 1})
    headers = {**_bearer(sm), "Content-Type": "application/merge-patch+json"}

    response = client.patch(
        f"{API}/by-name/flags", content=b'{"a": "\\ud800"}', headers=headers
    )

    assert response.status_code == 400
    assert sm.reveal("flags") == {"a": 1}


@pytest.mark.parametrize("header", ["\u00b2", "\u0661", "1.5", "-1"])
def test_if_match_headers_are_400_when_not_ascii_digits(
    client: TestClient, sm: SecretsManager, header: str
) -> None:
    sm.patch("flags", {"a": 1})

    response = client.patch(
        f"{API}/by-name/flags",
        json={"b": 2},
        headers={**_bearer(sm), "If-Match": header.encode()},  # type: ignore[dict-item]
    )

    assert response.status_code == 400
    assert sm.reveal("flags") == {"a": 1}


def test_unknown_query_parameters_are_400_when_given(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = _bearer(sm)

    response = client.get(API, params={"limt": 2}, headers=headers)

    assert response.status_code == 400
    assert "limt" in response.json()["error"]
    assert (
        client.get(f"{API}/stats", params={"x": 1}, headers=headers).status_code == 400
    )


# ------------------------------------------------------------------ bindings


@pytest.mark.parametrize(
    ("scopes", "binding"),
    [
        (["admin"], {"namespace": "team-a"}),
        (["keys:read", "keys:write"], {"namespace": "team-a"}),
        (["keys:read", "keys:write"], {"app": "billing"}),
    ],
)
def test_bound_tokens_get_403_on_store_wide_keys_when_reading_or_shredding(
    client: TestClient, sm: SecretsManager, scopes: list[str], binding: dict[str, str]
) -> None:
    sm.keys.set_secret("global-key", "material")
    bound = _bearer(sm, *scopes, **binding)

    read = client.get("/api/v1/keys/global-key", headers=bound)
    shred = client.delete("/api/v1/keys/global-key", headers=bound)
    put = client.put("/api/v1/keys/new", json={"secret": "s"}, headers=bound)

    assert [read.status_code, shred.status_code, put.status_code] == [403, 403, 403]
    assert "material" not in read.text
    assert sm.keys.get_secret("global-key") == "material"
    assert sm.keys.get_secret("new") is None
    unbound = _bearer(sm, "keys:read")
    assert client.get("/api/v1/keys/global-key", headers=unbound).status_code == 200


def test_restricted_secrets_are_refused_when_app_and_env_are_omitted(
    client: TestClient, sm: SecretsManager
) -> None:
    sm.create("billing-db", "s3cret", allowed_apps=["billing"], envs=["prod"])
    reader = _bearer(sm, "secrets:reveal")
    value = f"{API}/by-name/billing-db/value"

    omitted = client.get(value, headers=reader)
    app_only = client.get(value, params={"app": "billing"}, headers=reader)
    wrong = client.get(value, params={"app": "web", "env": "prod"}, headers=reader)
    named = client.get(value, params={"app": "billing", "env": "prod"}, headers=reader)
    batch = client.post(
        f"{API}/batch/values", json={"names": ["billing-db"]}, headers=reader
    )
    batch_named = client.post(
        f"{API}/batch/values",
        json={"names": ["billing-db"], "app": "billing", "env": "prod"},
        headers=reader,
    )

    assert [omitted.status_code, app_only.status_code, wrong.status_code] == [403] * 3
    assert "s3cret" not in omitted.text + app_only.text + wrong.text + batch.text
    assert named.json()["value"] == "s3cret"
    assert batch.json()["results"][0]["code"] == "access_denied"
    assert batch_named.json()["results"][0]["value"] == "s3cret"


def test_app_bound_tokens_reveal_only_as_their_app_when_asking(
    client: TestClient, sm: SecretsManager
) -> None:
    sm.create("billing-db", "s3cret", allowed_apps=["billing"], envs=["prod"])
    billing = _bearer(sm, "secrets:reveal", app="billing", env="prod")
    web = _bearer(sm, "secrets:reveal", app="web", env="prod")
    value = f"{API}/by-name/billing-db/value"

    assert client.get(value, headers=billing).json()["value"] == "s3cret"
    assert client.get(value, headers=web).status_code == 403
    claimed = client.get(value, params={"app": "billing"}, headers=web)
    assert claimed.status_code == 403
    assert "s3cret" not in claimed.text


def test_names_are_one_path_segment_when_a_name_ends_like_a_sub_resource(
    client: TestClient, sm: SecretsManager
) -> None:
    sm.create("svc", "value-of-svc")
    sm.create("svc/value", "value-of-svc-slash-value")
    sm.create("svc/versions", "v")
    headers = _bearer(sm)

    meta = client.get(f"{API}/by-name/svc%2Fvalue", headers=headers)
    revealed = client.get(f"{API}/by-name/svc%2Fvalue/value", headers=headers)
    of_svc = client.get(f"{API}/by-name/svc/value", headers=headers)
    versions = client.get(f"{API}/by-name/svc%2Fversions", headers=headers)

    assert meta.json()["name"] == "svc/value"
    assert "value-of-svc" not in meta.text
    assert revealed.json()["value"] == "value-of-svc-slash-value"
    assert of_svc.json()["value"] == "value-of-svc"
    assert versions.json()["name"] == "svc/versions"


def test_dot_segments_are_refused_when_creating_or_addressing(
    client: TestClient, sm: SecretsManager
) -> None:
    sm.create("prod-db", "keep-me")
    headers = _bearer(sm)

    created = client.post(
        API, json={"name": "tmp/../prod-db", "value": "v"}, headers=headers
    )
    deleted = client.delete(f"{API}/by-name/tmp%2F..%2Fprod-db", headers=headers)

    assert (created.status_code, deleted.status_code) == (400, 400)
    assert sm.reveal("prod-db") == "keep-me"


def test_bearers_naming_a_secret_id_are_401_when_used(
    client: TestClient, sm: SecretsManager
) -> None:
    secret = sm.create("gone", "v")
    live = sm.create("live", "v")
    sm.delete("gone")

    for target in (secret.id, live.id, uuid4()):
        response = client.get(
            API, headers={"Authorization": f"Bearer srt_{target.hex}_x"}
        )
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
    assert sm.tokens.verify(f"srt_{secret.id.hex}_x") is None
    assert sm.tokens.revoke(secret.id) is False


def test_unauthenticated_answers_say_how_to_authenticate_when_401(
    client: TestClient,
) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        response = client.get(API, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


def test_audit_records_the_token_id_when_two_tokens_share_a_name(
    client: TestClient, sm: SecretsManager
) -> None:
    sm.create("s", "v")
    one = sm.tokens.create(scopes=["secrets:reveal"], name="ci")
    two = sm.tokens.create(scopes=["secrets:reveal"], name="ci")
    for issued in (one, two):
        headers = {"Authorization": f"Bearer {issued.token}"}
        client.get(f"{API}/by-name/s/value", headers=headers)

    actors = [entry.actor for entry in sm.audit(action="revealed")]

    assert actors == [f"token:{one.info.id}", f"token:{two.info.id}"]


# ------------------------------------------------------------------ audit stream


@pytest.mark.parametrize(
    "params", [{"actor": "\u0000"}, {"action": "stolen"}, {"since": "2026-01-01"}]
)
def test_audit_queries_are_400_before_streaming_when_invalid(
    client: TestClient, sm: SecretsManager, params: dict[str, str]
) -> None:
    sm.create("s", "v")

    response = client.get(f"{API}/audit", params=params, headers=_bearer(sm))

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def _serve(sm: SecretsManager) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(sm), port=port, log_level="critical")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_audit_streams_abort_when_the_query_fails_midway(
    sm: SecretsManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        sm.create(f"s{i}", "v")
    headers = _bearer(sm)
    real = sm.audit

    def failing(**filters: Any) -> Iterator[Any]:
        entries = real(**filters)
        yield next(entries)
        raise StoreUnavailableError("the database went away")

    monkeypatch.setattr(sm, "audit", failing)
    for base in _serve(sm):
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(base + API + "/audit", headers=headers, timeout=10).read()


def test_audit_answers_503_when_the_query_fails_before_the_first_entry(
    client: TestClient, sm: SecretsManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = _bearer(sm)

    def failing(**_: Any) -> Iterator[Any]:
        raise StoreUnavailableError("the database went away")
        yield  # pragma: no cover - makes this a generator

    monkeypatch.setattr(sm, "audit", failing)

    assert client.get(f"{API}/audit", headers=headers).status_code == 503


# ------------------------------------------------------------------ new users


def test_lists_are_paginated_with_a_link_header_when_a_limit_is_given(
    client: TestClient, sm: SecretsManager
) -> None:
    for i in range(5):
        sm.create(f"s{i}", "v")
    headers = _bearer(sm)

    first = client.get(API, params={"limit": 2}, headers=headers)
    names = [s["name"] for s in first.json()]
    link = first.headers["link"]
    while link:
        target = link.split(">", 1)[0].lstrip("<")
        page = client.get(target, headers=headers)
        names += [s["name"] for s in page.json()]
        link = page.headers.get("link", "")

    assert [s["name"] for s in first.json()] == ["s0", "s1"]
    assert first.headers["link"].endswith('; rel="next"')
    assert names == [f"s{i}" for i in range(5)]
    unlimited = client.get(API, headers=headers)
    assert "link" not in unlimited.headers
    assert len(unlimited.json()) == 5


def test_bad_cursors_are_400_when_listing(
    client: TestClient, sm: SecretsManager
) -> None:
    response = client.get(API, params={"cursor": "not-a-cursor"}, headers=_bearer(sm))

    assert response.status_code == 400


def test_extension_fields_are_settable_when_creating_and_updating(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = _bearer(sm)
    expires = int((datetime.now(UTC) + timedelta(days=30)).timestamp())

    created = client.post(
        API,
        json={
            "name": "ductape",
            "value": {"host": "db", "port": 5432},
            "token_type": "api_key",
            "scope": ["billing"],
            "envs": ["prod"],
            "tags": {"team": "pay"},
            "expires_at": expires,
        },
        headers=headers,
    )
    updated = client.put(
        f"{API}/by-name/ductape",
        json={"allowed_apps": ["billing", "web"], "tags": {"team": "ops"}},
        headers=headers,
    )

    assert created.status_code == 201, created.text
    secret = sm.get("ductape")
    assert secret.token_type == "api_key"
    assert secret.envs == ("prod",)
    assert secret.expires_at is not None
    assert int(secret.expires_at.timestamp()) == expires
    assert updated.json()["allowed_apps"] == ["billing", "web"]
    assert sm.get("ductape").tags == {"team": "ops"}
    assert sm.reveal("ductape") == {"host": "db", "port": 5432}
    plain = client.post(API, json={"name": "fluxbase", "value": "v"}, headers=headers)
    # Fluxbase's shape: the extension fields appear only when set.
    assert set(plain.json()) == {
        "id",
        "name",
        "scope",
        "version",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
    }


def test_trailing_slashes_are_answered_directly_when_used(
    client: TestClient, sm: SecretsManager
) -> None:
    headers = _bearer(sm)

    created = client.post(
        API + "/",
        json={"name": "s", "value": "v"},
        headers=headers,
        follow_redirects=False,
    )
    listed = client.get(API + "/", headers=headers, follow_redirects=False)

    assert created.status_code == 201
    assert listed.status_code == 200
    assert [s["name"] for s in listed.json()] == ["s"]


def test_the_root_points_to_the_api_and_its_schema_when_asked(
    client: TestClient,
) -> None:
    index = client.get("/").json()

    assert index["openapi"] == "/openapi.json"
    assert index["secrets"] == API
    assert client.get(index["openapi"]).status_code == 200
