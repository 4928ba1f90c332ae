"""Exporting every live secret and importing it into another store."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from strongroom import (
    SecretExistsError,
    SecretRevokedError,
    SecretsManager,
    ValidationError,
)
from strongroom._transport import seal, transport_sealer
from tests.conftest import MASTER_KEY

from .raw import query

TRANSPORT = os.urandom(32)


def _fill(sm: SecretsManager) -> None:
    soon = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
    sm.create(
        "db/password",
        "canary-plain-1",
        description="primary",
        token_type="password",
        allowed_apps=["api"],
        envs=["prod"],
        expires_at=soon,
        tags={"team": "core"},
    )
    sm.create("config", {"retries": 3, "nested": {"ok": True}}, namespace="team-a")
    sm.create("old", "canary-expired", expires_at=datetime.now(UTC) - timedelta(days=1))
    sm.create("paused", "canary-revoked")
    sm.revoke("paused")
    sm.create("gone", "canary-deleted")
    sm.delete("gone")
    sm.update("db/password", value="canary-plain-2")


def test_import_recreates_every_live_secret_when_given_a_plaintext_export(
    store_url: str, other_store_url: str
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as source:
        _fill(source)
        lines = list(source.export_secrets(plaintext=True))
    names = [json.loads(line)["name"] for line in lines]
    assert sorted(names) == ["config", "db/password", "old", "paused"]
    assert "canary-deleted" not in "".join(lines)

    with SecretsManager.open(other_store_url, master_key=os.urandom(32)) as target:
        assert target.import_secrets(lines) == 4
        # The copy exports exactly as the original did.
        assert list(target.export_secrets(plaintext=True)) == lines
        assert target.reveal("db/password") == "canary-plain-2"
        assert target.reveal("config", namespace="team-a") == {
            "retries": 3,
            "nested": {"ok": True},
        }
        with pytest.raises(SecretRevokedError):
            target.reveal("paused")
        info = target.get("db/password")
        assert (info.description, info.allowed_apps, info.tags) == (
            "primary",
            ("api",),
            {"team": "core"},
        )
        # A new store's history starts at the import: one value version each.
        assert info.version == 1
        stats = target.stats()
        assert (stats.total, stats.revoked, stats.deleted) == (4, 1, 0)


def test_sealed_export_holds_no_value_and_opens_only_with_its_key_when_imported(
    store_url: str, other_store_url: str
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as source:
        _fill(source)
        lines = list(source.export_secrets(transport_key=TRANSPORT))
    assert "canary-" not in "".join(lines)
    assert all("value" not in json.loads(line) for line in lines)

    with SecretsManager.open(other_store_url, master_key=MASTER_KEY) as target:
        with pytest.raises(ValidationError, match="no transport key"):
            target.import_secrets(lines)
        with pytest.raises(ValidationError, match="does not open"):
            target.import_secrets(lines, transport_key=os.urandom(32))
        # A sealed value is bound to its name: moved to another line, it won't open.
        first, second = (json.loads(line) for line in lines[:2])
        first["sealed"] = second["sealed"]
        with pytest.raises(ValidationError, match="does not open"):
            target.import_secrets([json.dumps(first)], transport_key=TRANSPORT)
        assert target.stats().total == 0

        assert target.import_secrets(lines, transport_key=TRANSPORT) == 4
        assert target.reveal("db/password") == "canary-plain-2"


def test_export_raises_validation_error_when_neither_or_both_modes_are_given(
    sm: SecretsManager,
) -> None:
    with pytest.raises(ValidationError, match="plaintext=True"):
        sm.export_secrets()
    with pytest.raises(ValidationError, match="not both"):
        sm.export_secrets(plaintext=True, transport_key=TRANSPORT)
    with pytest.raises(ValidationError, match="transport key"):
        sm.export_secrets(transport_key=b"short")


def test_import_stops_at_a_taken_name_and_says_where_when_the_target_has_it(
    sm: SecretsManager, store_url: str
) -> None:
    sm.create("b", "already-here")
    lines = [
        json.dumps({"name": "a", "namespace": None, "value": "1"}),
        json.dumps({"name": "b", "namespace": None, "value": "2"}),
        json.dumps({"name": "c", "namespace": None, "value": "3"}),
    ]
    with pytest.raises(SecretExistsError) as caught:
        sm.import_secrets(lines)
    assert "import line 2" in str(caught.value)
    assert "created before it: 1" in str(caught.value)
    assert sm.reveal("a") == "1"
    assert sm.reveal("b") == "already-here"
    assert not sm.exists("c")


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[1, 2]",
        '{"name": "x"}',
        '{"name": "", "value": "v"}',
        '{"name": "x", "value": "v", "status": "deleted"}',
        '{"name": "x", "value": "v", "expires_at": "tomorrow"}',
        '{"name": "x", "value": "v", "expires_at": "2030-01-01T00:00:00"}',
        '{"name": "x", "value": "v", "tags": ["a"]}',
        '{"name": "x", "value": "v", "allowed_apps": "api"}',
        '{"name": "x", "value": 5}',
    ],
)
def test_import_raises_validation_error_and_writes_nothing_when_a_line_is_invalid(
    sm: SecretsManager, store_url: str, line: str
) -> None:
    before = query(store_url, "SELECT count(*) FROM strongroom_events")[0][0]
    with pytest.raises(ValidationError, match="import line 1"):
        sm.import_secrets([line])
    assert query(store_url, "SELECT count(*) FROM strongroom_events")[0][0] == before


def test_export_replays_the_stream_when_a_secret_has_no_head(
    sm: SecretsManager, store_url: str
) -> None:
    sm.create("headless", "from-the-stream")
    sm.update("headless", value="latest")
    sm.create("normal", "from-the-head")
    query(store_url, "DELETE FROM strongroom_heads")

    exported = {
        item["name"]: item["value"]
        for item in map(json.loads, sm.export_secrets(plaintext=True))
    }

    assert exported == {"headless": "latest", "normal": "from-the-head"}


def test_import_raises_validation_error_when_a_sealed_value_is_not_json(
    sm: SecretsManager,
) -> None:
    sealer = transport_sealer(TRANSPORT)
    aad = b"strongroom/export/secret/" + json.dumps([None, "x"]).encode()
    line = json.dumps({"name": "x", "sealed": seal(sealer, "{not json", aad)})

    with pytest.raises(ValidationError, match="import line 1: invalid value"):
        sm.import_secrets([line], transport_key=TRANSPORT)
    assert not sm.exists("x")
