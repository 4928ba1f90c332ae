"""The lifecycle over HTTP, on both backends: DELETE with a recovery window,
``/restore``, nothing revealed while pending deletion (value, batch, references),
``/rotate`` through the server's hook, stages on versions and ``?stage=``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from strongroom import SecretsManager
from strongroom.http import create_app

API = "/api/v1/secrets"


class Hook:
    """The server's rotation hook: records steps, fails ``fail``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail: str | None = None

    def __call__(self, step: str, name: str, value: Any) -> None:
        self.calls.append((step, name))
        if step == self.fail:
            raise RuntimeError(f"refused {value}")


@pytest.fixture
def hook() -> Hook:
    return Hook()


@pytest.fixture
def client(sm: SecretsManager, hook: Hook) -> Iterator[TestClient]:
    with TestClient(
        create_app(sm, rotation_hook=hook, purge_every=None)
    ) as test_client:
        yield test_client


def _bearer(sm: SecretsManager, *scopes: str, **binding: Any) -> dict[str, str]:
    token = sm.tokens.create(scopes=list(scopes), **binding).token
    return {"Authorization": f"Bearer {token}"}


def test_delete_schedules_and_restore_cancels_when_given_a_window(
    sm: SecretsManager, client: TestClient
) -> None:
    sm.create("db/password", "hunter2")
    sm.create("dsn", "postgres://app:${db/password}@db")
    writer = _bearer(sm, "secrets:read", "secrets:write")
    reader = _bearer(sm, "secrets:reveal")

    scheduled = client.delete(
        f"{API}/by-name/db%2Fpassword?recovery_window_days=7", headers=writer
    )
    again = client.delete(
        f"{API}/by-name/db%2Fpassword?recovery_window_days=7", headers=writer
    )
    shown = client.get(f"{API}/by-name/db%2Fpassword", headers=writer).json()
    value = client.get(f"{API}/by-name/db%2Fpassword/value", headers=reader)
    batch = client.post(
        f"{API}/batch/values", json={"names": ["db/password"]}, headers=reader
    )
    expanded = client.get(f"{API}/by-name/dsn/value?expand=true", headers=reader)
    stats = client.get(f"{API}/stats", headers=writer).json()

    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["message"] == "Secret scheduled for deletion"
    assert again.status_code == 200
    assert shown["status"] == "pending_deletion"
    assert shown["deletion_date"]
    assert (value.status_code, value.json()["code"]) == (410, "pending_deletion")
    assert "hunter2" not in value.text + batch.text + expanded.text
    assert batch.status_code == 200
    assert expanded.status_code == 400
    assert stats["pending_deletion"] == 1
    restored = client.post(f"{API}/by-name/db%2Fpassword/restore", headers=writer)
    assert restored.status_code == 200, restored.text
    assert "status" not in restored.json()
    got = client.get(f"{API}/by-name/db%2Fpassword/value", headers=reader)
    assert got.json()["value"] == "hunter2"


@pytest.mark.parametrize(
    "days", ["6", "31", "0", "-7", "seven", "99999999999999999999"]
)
def test_delete_is_refused_when_the_window_is_out_of_range(
    sm: SecretsManager, client: TestClient, days: str
) -> None:
    sm.create("k", "v")
    writer = _bearer(sm, "secrets:write")

    got = client.delete(f"{API}/by-name/k?recovery_window_days={days}", headers=writer)

    assert got.status_code == 400, got.text
    assert sm.get("k").status == "active"


def test_a_bound_token_cannot_restore_or_rotate_when_outside_its_namespace(
    sm: SecretsManager, client: TestClient
) -> None:
    sm.create("k", "v", namespace="team-b")
    sm.delete(
        "k",
        namespace="team-b",
        recovery_window=timedelta(days=7),
    )
    bound = _bearer(sm, "secrets:write", namespace="team-a")

    for path in ("restore", "rotate"):
        kwargs: dict[str, Any] = {"json": {}} if path == "rotate" else {}
        got = client.post(
            f"{API}/by-name/k/{path}?namespace=team-b", headers=bound, **kwargs
        )
        assert got.status_code in {403, 404}, got.text
    assert sm.get("k", namespace="team-b").status == "pending_deletion"


def test_rotate_runs_the_servers_hook_when_posted(
    sm: SecretsManager, client: TestClient, hook: Hook
) -> None:
    sm.create("db/password", "old")
    writer = _bearer(sm, "secrets:read", "secrets:write")
    reader = _bearer(sm, "secrets:reveal")

    rotated = client.post(
        f"{API}/by-name/db%2Fpassword/rotate",
        json={"generate": {"length": 20, "exclude_punctuation": True}},
        headers=writer,
    )

    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["version"] == 2
    assert rotated.json()["last_rotated_at"]
    assert hook.calls == [("set", "db/password"), ("test", "db/password")]
    new = client.get(f"{API}/by-name/db%2Fpassword/value", headers=reader).json()
    previous = client.get(
        f"{API}/by-name/db%2Fpassword/value?stage=previous", headers=reader
    ).json()
    assert len(new["value"]) == 20
    assert (previous["value"], previous["version"]) == ("old", 1)
    versions = client.get(
        f"{API}/by-name/db%2Fpassword/versions", headers=writer
    ).json()
    assert [v["stages"] for v in versions] == [["current"], ["previous"]]


def test_a_failed_step_answers_502_without_the_value_when_the_hook_fails(
    sm: SecretsManager, client: TestClient, hook: Hook
) -> None:
    sm.create("k", "old")
    writer = _bearer(sm, "secrets:write")
    hook.fail = "test"

    failed = client.post(
        f"{API}/by-name/k/rotate", json={"value": "next-secret"}, headers=writer
    )

    assert failed.status_code == 502
    assert failed.json()["code"] == "rotation_failed"
    assert "next-secret" not in failed.text
    assert sm.reveal("k") == "old"
    hook.fail = None
    resumed = client.post(f"{API}/by-name/k/rotate", json={}, headers=writer)
    assert resumed.status_code == 200, resumed.text
    assert hook.calls[-1] == ("test", "k")
    assert sm.reveal("k") == "next-secret"


def test_rotate_refuses_a_value_and_rules_together_when_both_are_given(
    sm: SecretsManager, client: TestClient
) -> None:
    sm.create("k", "old")
    writer = _bearer(sm, "secrets:write")

    for body in (
        {"value": "x", "generate": {}},
        {"generate": {"length": 0}},
        {"hook": "rm -rf /"},
    ):
        got = client.post(f"{API}/by-name/k/rotate", json=body, headers=writer)
        assert got.status_code == 400, (body, got.text)
    assert sm.get("k").version == 1


def test_update_sets_the_rotation_interval_when_given_days(
    sm: SecretsManager, client: TestClient
) -> None:
    sm.create("k", "v")
    writer = _bearer(sm, "secrets:read", "secrets:write")

    set_ = client.put(
        f"{API}/by-name/k", json={"rotation_interval_days": 30}, headers=writer
    )
    bad = client.put(
        f"{API}/by-name/k", json={"rotation_interval_days": 0}, headers=writer
    )
    listed = client.get(f"{API}?rotation_due=true", headers=writer)

    assert set_.status_code == 200, set_.text
    assert set_.json()["rotation_interval_days"] == 30
    assert set_.json()["next_rotation_at"]
    assert bad.status_code == 400
    assert listed.status_code == 200, listed.text
    assert listed.json() == []


def test_the_server_purges_due_deletions_when_their_date_has_passed(
    sm: SecretsManager,
) -> None:
    sm.create("overdue", "v")
    sm.create("kept", "v")
    sm.delete("kept", recovery_window=timedelta(days=7))
    # A deletion date already passed: scheduled through the aggregate itself,
    # since every window a caller may give is a week or more.
    past = datetime.now(UTC) - timedelta(seconds=1)
    sm._changes.mutate(
        "overdue",
        None,
        lambda s: s.schedule_deletion(past, at=datetime.now(UTC), actor="test"),
        retry=True,
    )

    with TestClient(create_app(sm, purge_every=0.05)):
        deadline = time.monotonic() + 10
        while sm.get("overdue", include_deleted=True).status != "deleted":
            assert time.monotonic() < deadline, "not purged"
            time.sleep(0.05)

    assert sm.get("kept").status == "pending_deletion"
