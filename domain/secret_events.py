"""The Secret aggregate's base event and its lifecycle's events (scheduled
deletion, stages, rotation), each with the state change it makes.

``SecretAggregate`` nests every one of them (``SecretAggregate.Rotated``); they are
defined here so the aggregate's module stays about its core. Explicit TOPICs keep
stored events readable whatever the classes are called.
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from eventsourcing.domain import Aggregate

from strongroom.domain.lifecycle import PENDING
from strongroom.domain.results import Action, Cause, Status
from strongroom.domain.validation import Value

if TYPE_CHECKING:
    from strongroom.domain.secret_state import SecretState


class SecretEvent(Aggregate.Event):
    """Base class of Secret events."""

    TOPIC: ClassVar[str]
    AUDIT_FIELDS: ClassVar[tuple[str, ...]] = ("timestamp", "actor")
    SHREDDABLE: ClassVar[bool] = True
    ACTION: ClassVar[Action]
    actor: str | None


class DeletionScheduled(SecretEvent):
    """The secret will be crypto-shredded at ``deletion_date`` unless restored."""

    TOPIC = "strongroom:Secret.DeletionScheduled.v1"
    ACTION = Action.DELETION_SCHEDULED
    AUDIT_FIELDS = ("timestamp", "actor", "deletion_date")
    deletion_date: datetime

    def apply(self, aggregate: SecretState) -> None:
        """Pending deletion; what it was is kept for a restore."""
        aggregate.restore_status = aggregate.status
        aggregate.status = Status.PENDING_DELETION
        aggregate.deletion_date = self.deletion_date
        aggregate.updated_by = self.actor


class DeletionCancelled(SecretEvent):
    """A scheduled deletion was cancelled: the secret is ``status`` again."""

    TOPIC = "strongroom:Secret.DeletionCancelled.v1"
    ACTION = Action.RESTORED
    status: str

    def apply(self, aggregate: SecretState) -> None:
        """Back to what it was, every version intact."""
        aggregate.status = Status(self.status)
        aggregate.restore_status = None
        aggregate.deletion_date = None
        aggregate.updated_by = self.actor


class Labelled(SecretEvent):
    """A label (stage) moved to ``value_version``."""

    TOPIC = "strongroom:Secret.Labelled.v1"
    ACTION = Action.LABELLED
    AUDIT_FIELDS = ("timestamp", "actor", "value_version")
    label: str
    value_version: int

    def apply(self, aggregate: SecretState) -> None:
        """A label sits on one version at a time."""
        aggregate.labels[self.label] = self.value_version
        aggregate.updated_by = self.actor


class Unlabelled(SecretEvent):
    """A label (stage) was taken off its version."""

    TOPIC = "strongroom:Secret.Unlabelled.v1"
    ACTION = Action.UNLABELLED
    label: str

    def apply(self, aggregate: SecretState) -> None:
        """The label is on no version (without ``pending``, no rotation runs)."""
        aggregate.labels.pop(self.label, None)
        if self.label == PENDING:
            aggregate.rotation_step = None
        aggregate.updated_by = self.actor


class Promoted(SecretEvent):
    """``current`` moved to an existing version (``previous`` to the old one)."""

    TOPIC = "strongroom:Secret.Promoted.v1"
    ACTION = Action.PROMOTED
    AUDIT_FIELDS = ("timestamp", "actor", "value_version")
    value: Value = field(repr=False)
    value_version: int

    def apply(self, aggregate: SecretState) -> None:
        """Reveals return this version's value from now on."""
        aggregate.make_current(self.value, self.value_version)
        aggregate.updated_by = self.actor


class RotationStarted(SecretEvent):
    """A rotation's new version, staged ``pending`` (``current`` stays)."""

    TOPIC = "strongroom:Secret.RotationStarted.v1"
    ACTION = Action.ROTATION_STARTED
    AUDIT_FIELDS = ("timestamp", "actor", "value_version")
    value: Value = field(repr=False)
    value_version: int
    version_id: str | None = None

    def apply(self, aggregate: SecretState) -> None:
        """A new version, not current: the rotation's first step."""
        if self.version_id is not None:
            aggregate.version_ids[self.value_version] = self.version_id
        aggregate.log_version(
            self.value_version,
            self.timestamp,
            self.actor,
            Cause.ROTATED,
            None,
            position=self.originator_version,
        )
        aggregate.labels[PENDING] = self.value_version
        aggregate.rotation_step = "create"
        aggregate.updated_by = self.actor


class RotationStepPassed(SecretEvent):
    """A rotation hook's step (set, test) succeeded for the pending version."""

    TOPIC = "strongroom:Secret.RotationStepPassed.v1"
    ACTION = Action.ROTATION_STEP
    AUDIT_FIELDS = ("timestamp", "actor", "step", "value_version")
    step: str
    value_version: int

    def apply(self, aggregate: SecretState) -> None:
        """A resumed rotation goes on after this step."""
        aggregate.rotation_step = self.step
        aggregate.updated_by = self.actor


class RotationFailed(SecretEvent):
    """A rotation step failed; ``current`` is untouched (the reason never holds
    the value, and is shredded with the secret)."""

    TOPIC = "strongroom:Secret.RotationFailed.v1"
    ACTION = Action.ROTATION_FAILED
    AUDIT_FIELDS = ("timestamp", "actor", "step", "value_version")
    step: str
    reason: str
    value_version: int

    def apply(self, aggregate: SecretState) -> None:
        """Nothing moves: the rotation resumes at ``step``."""
        aggregate.updated_by = self.actor


class Rotated(SecretEvent):
    """The rotation's last step: ``pending`` became ``current``."""

    TOPIC = "strongroom:Secret.Rotated.v1"
    ACTION = Action.ROTATED
    AUDIT_FIELDS = ("timestamp", "actor", "value_version")
    value: Value = field(repr=False)
    value_version: int

    def apply(self, aggregate: SecretState) -> None:
        """The new value is current; the next rotation is due an interval later."""
        aggregate.make_current(self.value, self.value_version)
        aggregate.last_rotated_at = self.timestamp
        aggregate.updated_by = self.actor


LIFECYCLE_EVENTS: tuple[type[SecretEvent], ...] = (
    DeletionScheduled,
    DeletionCancelled,
    Labelled,
    Unlabelled,
    Promoted,
    RotationStarted,
    RotationStepPassed,
    RotationFailed,
    Rotated,
)
