"""The lifecycle's rules: version stages (which labels the store manages), the
order a rotation's steps go in (AWS Secrets Manager's four), recovery windows
and rotation intervals."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from strongroom.domain import validation as check
from strongroom.domain.errors import ValidationError

CURRENT = "current"  # the version reveals return by default
PREVIOUS = "previous"  # the version current was on before it last moved
PENDING = "pending"  # a rotation's new version, until it is promoted

# create: the pending version exists; set: the hook put it into the target
# system; test: the hook checked it there; promote: it became current.
STEPS = ("create", "set", "test", "promote")
HOOK_STEPS = ("set", "test")
MAX_REASON = 1000
RECOVERY_DAYS = (7, 30)  # AWS Secrets Manager's RecoveryWindowInDays
ROTATION_DAYS = (1, 1000)  # and its AutomaticallyAfterDays
MIN_ROTATION = timedelta(hours=1)  # the library's intervals may be shorter than a day


def check_stage(stage: object) -> str:
    """A stage label: current, previous, pending or a custom label."""
    return check.check_label(stage, "stage", 256)


def check_unlabel(stage: object) -> str:
    """A label that may be removed: any but current (a secret always has one)."""
    label = check_stage(stage)
    if label == CURRENT:
        msg = "the current stage cannot be removed; move it to another version"
        raise ValidationError(msg)
    return label


def steps_after(done: str | None) -> tuple[str, ...]:
    """The steps a rotation still has to run after step ``done``."""
    if done is None:
        return STEPS[1:]
    return STEPS[STEPS.index(done) + 1 :]


def stages_of(version: int, current: int, labels: Mapping[str, int]) -> tuple[str, ...]:
    """The stages on ``version``: current first, then the others sorted."""
    found = sorted(label for label, at in labels.items() if at == version)
    return (CURRENT, *found) if version == current else tuple(found)


def short_reason(reason: str, value: str) -> str:
    """A failure's reason as recorded: printable, one line, bounded, and without
    the pending value (a hook's error may quote what it was given)."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in reason).split())
    for secret in {value, " ".join(value.split())}:
        text = _without(text, secret)
    return text[:MAX_REASON] or "failed"


def _without(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` marked, or removed where the
    mark would make a new one."""
    if not secret:
        return text
    marked = text.replace(secret, "[value]")
    if secret not in marked:
        return marked
    while secret in text:
        text = text.replace(secret, "")
    return text


def check_recovery_window(window: object) -> timedelta:
    """A deletion's recovery window: 7 to 30 days, as AWS Secrets Manager's."""
    low, high = RECOVERY_DAYS
    return check.check_duration(
        window,
        "recovery window",
        minimum=timedelta(days=low),
        maximum=timedelta(days=high),
        rule=f"expected a timedelta from {low} to {high} days",
    )


def recovery_window_days(days: object) -> timedelta:
    """A recovery window given in whole days (AWS's ``RecoveryWindowInDays``)."""
    low, high = RECOVERY_DAYS
    count = check.check_count(days, "recovery window", minimum=low, maximum=high)
    return check_recovery_window(timedelta(days=count))


def rotation_interval_days(days: object) -> timedelta:
    """A rotation interval given in whole days (AWS's ``AutomaticallyAfterDays``)."""
    low, high = ROTATION_DAYS
    count = check.check_count(days, "rotation interval", minimum=low, maximum=high)
    return timedelta(days=count)


def check_rotation_interval(interval: object) -> int | None:
    """A rotation interval (1 hour to 1,000 days) as whole seconds, or None."""
    if interval is None:
        return None
    checked = check.check_duration(
        interval,
        "rotation interval",
        minimum=MIN_ROTATION,
        maximum=timedelta(days=ROTATION_DAYS[1]),
        rule=f"expected a timedelta from 1 hour to {ROTATION_DAYS[1]} days",
    )
    return int(checked.total_seconds())
