"""The lifecycle in the domain, no I/O: scheduled deletion, stages, rotation
steps, replay and heads, and the lifecycle's input rules (hypothesis at each
boundary)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.domain.errors import (
    SecretPendingDeletionError,
    ValidationError,
    VersionNotFoundError,
)
from strongroom.domain.lifecycle import (
    check_recovery_window,
    check_rotation_interval,
    check_stage,
    check_unlabel,
    recovery_window_days,
    rotation_interval_days,
    short_reason,
    steps_after,
)
from strongroom.domain.results import Action, Status
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.stream import Head, action_of, replay, value_version_of
from tests.odd_input import odd_text

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def _secret() -> SecretAggregate:
    return SecretAggregate.create(
        secret_id=uuid4(), at=T0, name="svc", namespace=None, value="v1", actor="a"
    )


def _replayed(secret: SecretAggregate) -> SecretAggregate:
    found = replay(secret.collect_events())
    assert isinstance(found, SecretAggregate)
    return found


def test_a_scheduled_deletion_blocks_writes_until_cancelled_when_replayed() -> None:
    secret = _secret()
    secret.revoke(at=_at(1), actor="a")
    assert secret.schedule_deletion(_at(24 * 7), at=_at(2), actor="a") is True
    assert secret.schedule_deletion(_at(24 * 9), at=_at(3), actor="a") is False

    with pytest.raises(SecretPendingDeletionError):
        secret.change_value("v2", at=_at(4), actor="a")
    assert secret.info(_at(4)).deletion_date == _at(24 * 7)
    assert secret.cancel_deletion(at=_at(5), actor="a") is True
    assert secret.cancel_deletion(at=_at(6), actor="a") is False

    replayed = _replayed(secret)
    assert (replayed.status, replayed.deletion_date) == (Status.REVOKED, None)


def test_stages_follow_current_when_versions_rotate_and_move() -> None:
    secret = _secret()
    secret.change_value("v2", at=_at(1), actor="a")
    pending = secret.start_rotation("v3", at=_at(2), actor="a")
    secret.pass_rotation_step("set", at=_at(3), actor="a")

    assert (pending, secret.value_version, secret.labels) == (
        3,
        2,
        {"previous": 1, "pending": 3},
    )
    assert steps_after(secret.rotation_step) == ("test", "promote")
    secret.pass_rotation_step("test", at=_at(4), actor="a")
    secret.finish_rotation("v3", at=_at(5), actor="a")

    assert (secret.value, secret.value_version, secret.rotation_step) == ("v3", 3, None)
    assert secret.labels == {"previous": 2}
    assert secret.last_rotated_at == _at(5)
    replayed = _replayed(secret)
    assert [(v.version, v.stages) for v in replayed.versions()] == [
        (3, ("current",)),
        (2, ("previous",)),
        (1, ()),
    ]


def test_moving_current_needs_the_version_to_exist_when_labelled() -> None:
    secret = _replayed(_secret())
    with pytest.raises(VersionNotFoundError):
        secret.label("current", 2, at=_at(1), actor="a", value="x")
    assert secret.label("current", 1, at=_at(1), actor="a") is False


def test_a_failed_step_moves_nothing_when_recorded() -> None:
    secret = _secret()
    secret.start_rotation("v2", at=_at(1), actor="a")
    secret.fail_rotation("set", "refused", at=_at(2), actor="a")

    assert (secret.value, secret.value_version, secret.rotation_step) == (
        "v1",
        1,
        "create",
    )
    events = secret.collect_events()
    assert action_of(events[-1]) is Action.ROTATION_FAILED
    assert value_version_of(events[-1]) == 2


def test_a_head_keeps_stages_and_schedule_when_reloaded() -> None:
    secret = _secret()
    secret.change_value("v2", at=_at(1), actor="a")
    secret.start_rotation("v3", at=_at(2), actor="a")
    secret.schedule_deletion(_at(200), at=_at(3), actor="a")

    loaded = Head.of(secret).mutate(None)

    assert loaded.labels == {"previous": 1, "pending": 3}
    assert (loaded.latest_version, loaded.rotation_step) == (3, "create")
    assert (loaded.status, loaded.restore_status) == (
        Status.PENDING_DELETION,
        Status.ACTIVE,
    )
    assert loaded.deletion_date == _at(200)


def test_an_old_head_reads_as_linear_history_when_it_lacks_stages() -> None:
    secret = _secret()
    secret.change_value("v2", at=_at(1), actor="a")
    head = Head.of(secret)
    state = {
        key: val
        for key, val in head.state.items()
        if key
        not in {
            "latest_version",
            "labels",
            "restore_status",
            "deletion_date",
            "rotation_interval",
            "last_rotated_at",
            "rotation_step",
        }
    }
    old = Head(
        originator_id=head.originator_id,
        originator_version=head.originator_version,
        timestamp=head.timestamp,
        topic=head.topic,
        state=state,
    )

    loaded = old.mutate(None)

    assert (loaded.latest_version, loaded.labels) == (2, {"previous": 1})
    assert (loaded.deletion_date, loaded.rotation_step) == (None, None)


@pytest.mark.parametrize("days", [7, 8, 30])
def test_recovery_windows_of_seven_to_thirty_days_are_accepted_when_checked(
    days: int,
) -> None:
    assert check_recovery_window(timedelta(days=days)) == timedelta(days=days)
    assert recovery_window_days(days) == timedelta(days=days)


@given(window=st.one_of(st.timedeltas(), st.integers(), st.none(), st.text()))
def test_recovery_windows_outside_the_range_are_refused_when_checked(
    window: Any,
) -> None:
    inside = isinstance(window, timedelta) and (
        timedelta(days=7) <= window <= timedelta(days=30)
    )
    if inside:
        assert check_recovery_window(window) == window
    else:
        with pytest.raises(ValidationError, match="recovery window"):
            check_recovery_window(window)


@given(days=st.one_of(st.integers(), st.booleans(), st.floats(), st.text()))
def test_days_are_whole_numbers_in_range_when_given_as_days(days: Any) -> None:
    for rule, low, high in (
        (recovery_window_days, 7, 30),
        (rotation_interval_days, 1, 1000),
    ):
        whole = isinstance(days, int) and not isinstance(days, bool)
        if whole and low <= days <= high:
            assert rule(days) == timedelta(days=days)
        else:
            with pytest.raises(ValidationError):
                rule(days)


@given(
    interval=st.timedeltas(
        min_value=timedelta(days=-2000), max_value=timedelta(days=2000)
    )
)
def test_rotation_intervals_are_an_hour_to_a_thousand_days_when_checked(
    interval: timedelta,
) -> None:
    if timedelta(hours=1) <= interval <= timedelta(days=1000):
        assert check_rotation_interval(interval) == int(interval.total_seconds())
    else:
        with pytest.raises(ValidationError, match="rotation interval"):
            check_rotation_interval(interval)
    assert check_rotation_interval(None) is None


@given(stage=odd_text)
def test_stages_are_labels_when_checked(stage: str) -> None:
    try:
        checked = check_stage(stage)
    except ValidationError:
        return
    assert checked == stage
    assert 0 < len(stage) <= 256


def test_current_cannot_be_removed_when_unlabelled() -> None:
    with pytest.raises(ValidationError, match="current"):
        check_unlabel("current")
    assert check_unlabel("pending") == "pending"


@given(reason=st.text(), value=st.text(min_size=1))
def test_a_failure_reason_never_holds_the_value_when_recorded(
    reason: str, value: str
) -> None:
    recorded = short_reason(reason + value + reason, value)

    assert value not in recorded or (value in "failed" and recorded == "failed")
    assert recorded.isprintable()
    assert 0 < len(recorded) <= 1000
