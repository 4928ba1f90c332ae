"""Version stages and the rotation's steps: which labels the store manages, and
the order a rotation goes through (AWS Secrets Manager's four steps)."""

from __future__ import annotations

from collections.abc import Mapping

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
    if value:
        reason = reason.replace(value, "[value]")
    text = "".join(ch if ch.isprintable() else " " for ch in reason)
    return " ".join(text.split())[:MAX_REASON] or "failed"
