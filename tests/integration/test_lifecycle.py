"""The lifecycle on both backends: deletion with a recovery window (restore,
purge), version stages and labels, rotation in four recorded steps, rotation
intervals; every step an event, and a rebuild reproduces what it projects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from strongroom import (
    Generate,
    RotationFailedError,
    SecretDeletedError,
    SecretPendingDeletionError,
    SecretsManager,
    StrongroomError,
    ValidationError,
    VersionNotFoundError,
)
from tests.conftest import MASTER_KEY
from tests.integration.processes import race

WEEK = timedelta(days=7)


def _later(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


# ------------------------------------------------------------ recovery window


def test_delete_schedules_the_deletion_when_given_a_recovery_window(
    sm: SecretsManager,
) -> None:
    sm.create("db/password", "hunter2", tags={"team": "a"})

    assert sm.delete("db/password", recovery_window=WEEK) is True

    secret = sm.get("db/password")
    assert secret.status == "pending_deletion"
    assert secret.deletion_date is not None
    assert _later(6) < secret.deletion_date <= _later(7)
    (listed,) = sm.list().items
    assert (listed.status, listed.deletion_date) == (
        "pending_deletion",
        secret.deletion_date,
    )
    assert [s.name for s in sm.list(status="pending_deletion").items] == ["db/password"]
    stats = sm.stats()
    assert (stats.pending_deletion, stats.active, stats.total) == (1, 0, 1)
    assert sm.exists("db/password")


def test_every_read_of_the_value_is_refused_when_pending_deletion(
    sm: SecretsManager,
) -> None:
    sm.create("target", "hunter2")
    sm.create("ref", "uses ${target}")
    sm.delete("target", recovery_window=WEEK)

    with pytest.raises(SecretPendingDeletionError):
        sm.reveal("target")
    with pytest.raises(SecretDeletedError):  # a pending deletion is one
        sm.reveal("target", version=1)
    assert isinstance(sm.reveal_many(["target"])["target"], SecretPendingDeletionError)
    with pytest.raises(ValidationError, match="scheduled for deletion"):
        sm.reveal("ref", expand=True)
    with pytest.raises(SecretPendingDeletionError):
        sm.environment(names=["target"])
    exported = "".join(sm.export_secrets(plaintext=True))
    assert "hunter2" not in exported
    assert '"target"' not in exported


def test_writes_are_refused_when_pending_deletion(sm: SecretsManager) -> None:
    sm.create("k", "v")
    sm.delete("k", recovery_window=WEEK)

    for write in (
        lambda: sm.put("k", "new"),
        lambda: sm.update("k", description="d"),
        lambda: sm.revoke("k"),
        lambda: sm.rollback("k", 1),
        lambda: sm.rotate("k"),
        lambda: sm.label("k", 1, "golden"),
    ):
        with pytest.raises(SecretPendingDeletionError):
            write()
    with pytest.raises(StrongroomError):
        sm.create("k", "again")  # the name stays taken
    assert [e.action for e in sm.history("k")] == ["created", "deletion_scheduled"]


def test_restore_brings_back_every_version_when_pending_deletion(
    sm: SecretsManager,
) -> None:
    sm.create("k", "v1")
    sm.put("k", "v2")
    sm.revoke("k")
    sm.delete("k", recovery_window=timedelta(days=30))

    assert sm.restore("k") is True
    assert sm.restore("k") is False

    secret = sm.get("k")
    assert (secret.status, secret.deletion_date) == ("revoked", None)
    sm.reinstate("k")
    assert sm.reveal("k") == "v2"
    assert sm.reveal("k", version=1) == "v1"
    assert sm.stats().pending_deletion == 0
    assert sm.history("k")[-2].action == "restored"


def test_purge_shreds_only_what_is_due_when_given_a_moment(sm: SecretsManager) -> None:
    sm.create("soon", "a")
    sm.create("later", "b", namespace="team-a")
    sm.create("kept", "c")
    sm.delete("soon", recovery_window=WEEK)
    sm.delete("later", namespace="team-a", recovery_window=timedelta(days=20))

    assert sm.purge_due() == []
    purged = sm.purge_due(now=_later(8))

    assert [(p.name, p.namespace) for p in purged] == [("soon", None)]
    assert sm.get("soon", include_deleted=True).status == "deleted"
    with pytest.raises(SecretDeletedError):
        sm.restore("soon")
    assert sm.get("later", namespace="team-a").status == "pending_deletion"
    assert [p.name for p in sm.purge_due(now=_later(21))] == ["later"]
    assert sm.purge_due(now=_later(40)) == []
    assert sm.reveal("kept") == "c"
    assert sm.stats().deleted == 2


def test_delete_shreds_now_when_the_secret_is_pending_deletion(
    sm: SecretsManager,
) -> None:
    sm.create("k", "v")
    sm.delete("k", recovery_window=WEEK)

    assert sm.delete("k", recovery_window=WEEK) is False  # the first date stays
    assert sm.delete("k") is True

    assert sm.get("k", include_deleted=True).status == "deleted"
    assert sm.purge_due(now=_later(8)) == []


@pytest.mark.parametrize(
    "window", [timedelta(days=6), timedelta(days=31), timedelta(0), -WEEK, 7]
)
def test_delete_refuses_the_window_when_outside_seven_to_thirty_days(
    sm: SecretsManager, window: Any
) -> None:
    sm.create("k", "v")

    with pytest.raises(ValidationError, match="recovery window"):
        sm.delete("k", recovery_window=window)

    assert sm.get("k").status == "active"


def _purge_or_restore(
    url: str, verb: str, moment: datetime, start: Any, results: Any
) -> None:
    with SecretsManager.open(url, master_key=MASTER_KEY) as sm:
        start.wait(60)
        try:
            won = (
                bool(sm.purge_due(now=moment))
                if verb == "purge"
                else sm.restore("contested")
            )
            results.put((verb, won))
        except SecretDeletedError:
            results.put((verb, False))
        except StrongroomError as exc:
            results.put((verb, type(exc).__name__))


def test_one_of_purge_and_restore_wins_when_two_processes_race(store_url: str) -> None:
    moment = _later(8)
    for round_ in range(3):
        with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
            sm.put("contested", f"v{round_}")
            sm.delete("contested", recovery_window=WEEK)

        outcomes = dict(
            race(
                _purge_or_restore,
                [(store_url, "purge", moment), (store_url, "restore", moment)],
            )
        )

        assert sorted(outcomes.values()) == [False, True], outcomes
        with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
            status = sm.get("contested", include_deleted=True).status
            if outcomes["purge"]:
                assert status == "deleted"
                return
            assert status == "active"
            assert sm.reveal("contested") == f"v{round_}"


# ------------------------------------------------------------ stages and labels


def test_versions_show_current_and_previous_when_values_change(
    sm: SecretsManager,
) -> None:
    sm.create("k", "v1")
    sm.put("k", "v2")
    sm.put("k", "v3")

    assert [(v.version, v.stages) for v in sm.versions("k")] == [
        (3, ("current",)),
        (2, ("previous",)),
        (1, ()),
    ]
    assert sm.reveal("k", stage="previous") == "v2"
    assert sm.reveal("k", stage="current") == "v3"
    with pytest.raises(VersionNotFoundError):
        sm.reveal("k", stage="pending")
    assert sm.reveal("k", stage="previous", version=2) == "v2"
    with pytest.raises(VersionNotFoundError):
        sm.reveal("k", stage="previous", version=1)


def test_a_label_sits_on_one_version_when_moved(sm: SecretsManager) -> None:
    sm.create("k", "v1")
    sm.put("k", "v2")

    assert sm.label("k", 1, "golden") is True
    assert sm.label("k", 1, "golden") is False
    assert sm.reveal("k", stage="golden") == "v1"
    assert sm.label("k", 2, "golden") is True

    assert [(v.version, v.stages) for v in sm.versions("k")] == [
        (2, ("current", "golden")),
        (1, ("previous",)),
    ]
    assert sm.unlabel("k", "golden") is True
    assert sm.unlabel("k", "golden") is False
    with pytest.raises(VersionNotFoundError):
        sm.reveal("k", stage="golden")
    with pytest.raises(VersionNotFoundError):
        sm.label("k", 9, "golden")
    with pytest.raises(ValidationError):
        sm.unlabel("k", "current")


def test_moving_current_changes_what_reveals_return_when_labelled(
    sm: SecretsManager,
) -> None:
    sm.create("k", {"user": "a"})
    sm.put("k", {"user": "b"})

    sm.label("k", 1, "current")

    assert sm.reveal("k") == {"user": "a"}
    assert sm.get("k").version == 1
    assert sm.reveal("k", stage="previous") == {"user": "b"}
    sm.put("k", {"user": "c"})  # a new version is numbered after the highest
    assert [v.version for v in sm.versions("k")] == [3, 2, 1]
    assert sm.reveal("k", stage="previous") == {"user": "a"}


def test_rollback_moves_current_to_a_new_version_when_stages_exist(
    sm: SecretsManager,
) -> None:
    sm.create("k", "v1")
    sm.put("k", "v2")

    sm.rollback("k", 1)

    assert sm.reveal("k") == "v1"
    assert [(v.version, v.stages) for v in sm.versions("k")][:2] == [
        (3, ("current",)),
        (2, ("previous",)),
    ]


# ------------------------------------------------------------ rotation


class Recorder:
    """A rotation hook that records its calls and fails the steps it is told to."""

    def __init__(self, *, fail: str | None = None, quote: bool = False) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.fail = fail
        self.quote = quote

    def __call__(self, step: str, name: str, value: Any) -> None:
        self.calls.append((step, name, value))
        if step == self.fail:
            detail = f" (tried {value})" if self.quote else ""
            raise ConnectionError(f"the database refused the password{detail}")


def test_rotate_runs_the_four_steps_when_the_hook_succeeds(sm: SecretsManager) -> None:
    sm.create("db/password", "old")
    hook = Recorder()

    secret = sm.rotate("db/password", hook=hook, value="new-password")

    assert [step for step, _, _ in hook.calls] == ["set", "test"]
    assert {value for _, _, value in hook.calls} == {"new-password"}
    assert sm.reveal("db/password") == "new-password"
    assert sm.reveal("db/password", stage="previous") == "old"
    assert secret.version == 2
    assert secret.last_rotated_at is not None
    assert [(v.version, v.stages, v.cause) for v in sm.versions("db/password")] == [
        (2, ("current",), "rotated"),
        (1, ("previous",), "created"),
    ]
    assert [e.action for e in sm.history("db/password")] == [
        "created",
        "rotation_started",
        "rotation_step",
        "rotation_step",
        "rotated",
    ]


def test_rotate_generates_the_value_when_none_is_given(sm: SecretsManager) -> None:
    sm.create("k", "old")

    sm.rotate("k")
    first = sm.reveal("k")
    sm.rotate("k", value=Generate(length=12, exclude_punctuation=True))

    assert isinstance(first, str)
    assert len(first) == 32
    assert len(sm.reveal("k")) == 12  # type: ignore[arg-type]
    assert sm.reveal("k", stage="previous") == first


def test_a_failed_step_leaves_current_and_records_why_when_the_hook_raises(
    sm: SecretsManager,
) -> None:
    sm.create("k", "old")
    hook = Recorder(fail="test", quote=True)

    with pytest.raises(RotationFailedError, match="'test'") as caught:
        sm.rotate("k", hook=hook, value="pending-secret-value")

    assert "pending-secret-value" not in str(caught.value)
    assert sm.reveal("k") == "old"
    assert sm.reveal("k", stage="pending") == "pending-secret-value"
    assert [e.action for e in sm.history("k")][-2:] == [
        "rotation_step",
        "rotation_failed",
    ]
    stored = list(sm._app.events.get(sm.get("k").id))
    failed = stored[-1]
    assert failed.step == "test"
    assert "pending-secret-value" not in failed.reason
    assert "[value]" in failed.reason


def test_rotate_resumes_at_the_failed_step_when_run_again(sm: SecretsManager) -> None:
    sm.create("k", "old")
    with pytest.raises(RotationFailedError):
        sm.rotate("k", hook=Recorder(fail="test"), value="next")
    with pytest.raises(ValidationError, match="in progress"):
        sm.rotate("k", value="other")

    hook = Recorder()
    sm.rotate("k", hook=hook)

    assert hook.calls == [("test", "k", "next")]  # set already passed
    assert sm.reveal("k") == "next"
    assert sm.get("k").version == 2


def test_rotate_starts_over_when_the_pending_stage_was_removed(
    sm: SecretsManager,
) -> None:
    sm.create("k", "old")
    with pytest.raises(RotationFailedError):
        sm.rotate("k", hook=Recorder(fail="set"), value="abandoned")

    assert sm.unlabel("k", "pending") is True
    sm.rotate("k", value="fresh")

    assert sm.reveal("k") == "fresh"
    assert [(v.version, v.stages) for v in sm.versions("k")] == [
        (3, ("current",)),
        (2, ()),
        (1, ("previous",)),
    ]


def test_a_hook_returning_false_fails_the_step_when_asked(sm: SecretsManager) -> None:
    sm.create("k", "old")

    with pytest.raises(RotationFailedError, match="returned False"):
        sm.rotate("k", hook=lambda step, name, value: step != "set")

    assert sm.reveal("k") == "old"


def test_rotation_interval_makes_secrets_due_when_the_time_comes(
    sm: SecretsManager,
) -> None:
    sm.create("due", "v")
    sm.create("fresh", "v")
    sm.create("never", "v")
    secret = sm.update("due", rotation_interval=timedelta(hours=1))
    sm.update("fresh", rotation_interval=timedelta(days=90))

    assert secret.rotation_interval == timedelta(hours=1)
    assert secret.next_rotation_at == secret.created_at + timedelta(hours=1)
    assert sm.list(rotation_due=True).items == []
    assert sm.stats().rotation_due == 0
    with pytest.raises(ValidationError, match="rotation interval"):
        sm.update("never", rotation_interval=timedelta(minutes=5))
    with pytest.raises(ValidationError, match="rotation interval"):
        sm.update("never", rotation_interval=timedelta(days=1001))

    rotated = sm.rotate("fresh")
    assert rotated.last_rotated_at is not None
    assert rotated.next_rotation_at == rotated.last_rotated_at + timedelta(days=90)
    (listed,) = [s for s in sm.list().items if s.name == "fresh"]
    assert listed.next_rotation_at == rotated.next_rotation_at
    cleared = sm.update("due", rotation_interval=None)
    assert (cleared.rotation_interval, cleared.next_rotation_at) == (None, None)


def test_listing_counts_secrets_due_when_their_next_rotation_has_passed(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.create("due", "v")
        sm.create("pending", "v")
        for name in ("due", "pending"):
            sm.update(name, rotation_interval=timedelta(hours=1))
        sm.delete("pending", recovery_window=WEEK)
        # Due an hour after creation: the view is read as of two hours on.
        view = sm._view
        sm.list()  # catch up
        counts = view.counts(None, _later(0) + timedelta(hours=2), _later(7))
        assert counts.rotation_due == 1
        from strongroom.projections.rows import ListFilter

        due = view.list_rows(
            ListFilter(rotation_due=_later(0) + timedelta(hours=2)), None, 10
        )
        assert [row.name for row in due] == ["due"]


def test_rebuild_reproduces_the_lifecycle_rows_when_replayed(
    sm: SecretsManager,
) -> None:
    sm.create("a", "v1")
    sm.put("a", "v2")
    sm.label("a", 1, "golden")
    sm.update("a", rotation_interval=timedelta(days=30))
    sm.rotate("a")
    sm.create("b", "v", namespace="team-a")
    sm.delete("b", namespace="team-a", recovery_window=timedelta(days=20))
    sm.create("c", "v")
    sm.delete("c", recovery_window=WEEK)
    sm.restore("c")
    sm.create("d", "v")
    sm.delete("d", recovery_window=WEEK)
    sm.purge_due(now=_later(8))
    with pytest.raises(RotationFailedError):
        sm.rotate("c", hook=Recorder(fail="set"))

    def snapshot() -> tuple[Any, ...]:
        return (
            sm.list(limit=1000).items,
            sm.list(status="pending_deletion").items,
            sm.list(status="deleted").items,
            sm.stats(),
            sm.stats(namespace="team-a"),
            [(e.action, e.version, e.name) for e in sm.audit()],
        )

    before = snapshot()
    sm.rebuild_projections()

    assert snapshot() == before
    assert before[3].pending_deletion == 1
    assert before[3].deleted == 1


def test_heads_keep_stages_and_schedules_when_reopened(store_url: str) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.create("k", "v1")
        with pytest.raises(RotationFailedError):
            sm.rotate("k", hook=Recorder(fail="test"), value="v2")
        sm.create("gone", "x")
        sm.delete("gone", recovery_window=WEEK)
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        hook = Recorder()
        sm.rotate("k", hook=hook)
        assert hook.calls == [("test", "k", "v2")]
        assert sm.get("gone").status == "pending_deletion"
        assert sm.restore("gone")
        assert sm.reveal("gone") == "x"
