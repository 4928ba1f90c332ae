"""The Secret aggregate and its replay, no I/O (times and ids are passed in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from strongroom.domain.errors import SecretDeletedError, VersionNotFoundError
from strongroom.domain.results import Action, Cause, Status
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.stream import (
    Head,
    IncompleteStreamError,
    Shredded,
    Tombstone,
    action_of,
    replay,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _secret() -> SecretAggregate:
    return SecretAggregate.create(
        secret_id=uuid4(),
        at=T0,
        name="svc",
        namespace="team-a",
        value="v1",
        actor="alice",
    )


def test_value_versions_count_value_changes_only_when_metadata_changes_too() -> None:
    secret = _secret()
    secret.change_metadata({"description": "d"}, at=T0 + timedelta(1), actor="bob")
    secret.change_value("v2", at=T0 + timedelta(2), actor="bob")

    assert secret.value_version == 2
    assert secret.version == 3  # stream position
    assert secret.position_of(2) == 3
    assert [v.version for v in secret.versions()] == [2, 1]


def test_timestamps_come_from_the_caller_when_events_are_triggered() -> None:
    secret = _secret()
    secret.revoke(at=T0 + timedelta(hours=1), actor="carol")

    info = secret.info(T0)
    assert (info.created_at, info.updated_at) == (T0, T0 + timedelta(hours=1))
    assert info.status is Status.REVOKED


def test_metadata_change_emits_nothing_when_nothing_differs() -> None:
    secret = _secret()
    secret.collect_events()

    assert secret.change_metadata({"tags": {}, "envs": ()}, at=T0, actor=None) is False
    assert secret.collect_events() == []


def test_rollback_refuses_an_unknown_version_when_asked() -> None:
    with pytest.raises(VersionNotFoundError, match="svc"):
        _secret().roll_back(7, "old", at=T0, actor=None)


def test_deleted_secret_refuses_every_mutation_when_deleted() -> None:
    secret = _secret()
    secret.delete(at=T0, actor="erin")

    with pytest.raises(SecretDeletedError):
        secret.change_value("v2", at=T0, actor=None)
    with pytest.raises(SecretDeletedError):
        secret.revoke(at=T0, actor=None)


def test_replay_rebuilds_the_same_state_when_given_the_events() -> None:
    secret = _secret()
    secret.change_value("v2", at=T0, actor="bob", cause=Cause.PATCHED)
    events = secret.collect_events()

    again = replay(events)

    assert isinstance(again, SecretAggregate)
    assert again.info(T0) == secret.info(T0)
    assert [action_of(e) for e in events] == [Action.CREATED, Action.PATCHED]


def test_replay_yields_the_tombstone_when_the_events_are_shredded() -> None:
    secret = _secret()
    secret.delete(at=T0 + timedelta(1), actor="erin")
    created, deleted = secret.collect_events()
    placeholder = Shredded(created.originator_id, 1, created.TOPIC, {"actor": "alice"})

    found = replay([placeholder, deleted])

    assert isinstance(found, Tombstone)
    info = found.info()
    assert (info.name, info.namespace, info.status) == ("svc", "team-a", Status.DELETED)
    assert info.updated_by == "erin"
    assert action_of(placeholder) is Action.CREATED
    with pytest.raises(IncompleteStreamError):
        replay([placeholder])


def test_reprs_never_show_the_value_when_printed() -> None:
    secret = _secret()
    secret.change_value({"password": "canary-inner"}, at=T0, actor=None)

    shown = [
        repr(secret),
        repr(Head.of(secret)),
        *(repr(e) for e in secret.pending_events),
    ]

    assert all("v1" not in text and "canary-inner" not in text for text in shown)
    assert "svc" in repr(secret)


def test_a_head_restores_the_current_state_without_the_version_log_when_loaded() -> (
    None
):
    secret = _secret()
    secret.change_value("v2", at=T0 + timedelta(seconds=1), actor="bob")
    secret.revoke(at=T0 + timedelta(seconds=2), actor="carol")

    loaded = Head.of(secret).mutate(None)

    assert loaded.info(T0) == secret.info(T0)
    assert (loaded.value, loaded.version) == ("v2", 3)
    with pytest.raises(RuntimeError, match="replay"):
        loaded.versions()
