"""What a secret's state answers (versions, stages, its public metadata) and the
lifecycle's commands: scheduled deletion, stages and rotation steps.

A base of ``SecretAggregate``: the attributes are the aggregate's, the events are
in ``secret_events``. Times are passed in; no clock, database or crypto here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from strongroom.domain import secret_events as events
from strongroom.domain.errors import (
    SecretDeletedError,
    SecretPendingDeletionError,
    ValidationError,
    VersionNotFoundError,
    describe,
)
from strongroom.domain.lifecycle import CURRENT, PENDING, PREVIOUS, stages_of
from strongroom.domain.results import Cause, Secret, SecretVersion, Status
from strongroom.domain.validation import Value

# value version -> (stream position, when, who, cause, source version)
VersionLog = dict[int, tuple[int, datetime, str | None, Cause, int | None]]
VERSION_IDS = UUID("6f1d3c0e-5a7b-4c1e-9d2f-7b8a9c0d1e2f")
"""The namespace of derived version ids: ``uuid5(VERSION_IDS, "<secret id>/<n>")``."""


class SecretState:
    """A secret's state: the queries on it and its lifecycle's commands."""

    name: str
    namespace: str | None
    value: Value | None
    value_version: int  # the version staged current
    latest_version: int  # the highest version number
    labels: dict[str, int]  # every stage but current -> its version
    description: str | None
    token_type: str | None
    allowed_apps: tuple[str, ...]
    envs: tuple[str, ...]
    expires_at: datetime | None
    tags: dict[str, str]
    status: Status
    restore_status: Status | None  # what a restore makes it, while pending deletion
    deletion_date: datetime | None
    rotation_interval: int | None  # seconds
    last_rotated_at: datetime | None
    rotation_step: str | None  # the last step the running rotation passed
    created_by: str | None
    updated_by: str | None
    value_log: VersionLog
    version_ids: dict[int, str]  # the ids writers gave (the rest are derived)
    history_complete: bool  # False when loaded from its head (no older versions)

    if TYPE_CHECKING:
        id: UUID
        version: int
        created_on: datetime
        modified_on: datetime

        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
            """eventsourcing's: make the next event and apply it."""

    # ------------------------------------------------------------ lifecycle

    def schedule_deletion(
        self, deletion_date: datetime, *, at: datetime, actor: str | None
    ) -> bool:
        """Schedule the deletion; False (the first date kept) if it already is."""
        self.check_live()
        if self.deletion_date is not None:
            return False
        self.trigger_event(
            events.DeletionScheduled,
            deletion_date=deletion_date,
            actor=actor,
            timestamp=at,
        )
        return True

    def cancel_deletion(self, *, at: datetime, actor: str | None) -> bool:
        """Cancel a scheduled deletion; False if none is scheduled."""
        self.check_live()
        if self.restore_status is None:
            return False
        status = str(self.restore_status)
        self.trigger_event(
            events.DeletionCancelled, status=status, actor=actor, timestamp=at
        )
        return True

    def label(
        self,
        label: str,
        version: int,
        *,
        at: datetime,
        actor: str | None,
        value: Value | None = None,
    ) -> bool:
        """Move ``label`` to ``version`` (``current`` needs that version's value);
        False if it is there already."""
        self.check_writable()
        self.position_of(version)
        if label == CURRENT:
            if version == self.value_version:
                return False
            assert value is not None
            self.trigger_event(
                events.Promoted,
                value=value,
                value_version=version,
                actor=actor,
                timestamp=at,
            )
            return True
        if self.labels.get(label) == version:
            return False
        self.trigger_event(
            events.Labelled,
            label=label,
            value_version=version,
            actor=actor,
            timestamp=at,
        )
        return True

    def unlabel(self, label: str, *, at: datetime, actor: str | None) -> bool:
        """Take ``label`` off its version; False if no version has it."""
        self.check_writable()
        if label not in self.labels:
            return False
        self.trigger_event(events.Unlabelled, label=label, actor=actor, timestamp=at)
        return True

    def start_rotation(
        self,
        value: Value,
        *,
        at: datetime,
        actor: str | None,
        version_id: str | None = None,
    ) -> int:
        """Add the rotation's pending version; its number."""
        self.check_writable()
        version = self.latest_version + 1
        self.trigger_event(
            events.RotationStarted,
            value=value,
            value_version=version,
            version_id=version_id,
            actor=actor,
            timestamp=at,
        )
        return version

    def pass_rotation_step(self, step: str, *, at: datetime, actor: str | None) -> None:
        """Record that a hook's step succeeded for the pending version."""
        version = self.pending_version()
        self.trigger_event(
            events.RotationStepPassed,
            step=step,
            value_version=version,
            actor=actor,
            timestamp=at,
        )

    def fail_rotation(
        self, step: str, reason: str, *, at: datetime, actor: str | None
    ) -> None:
        """Record that a rotation step failed (``reason`` already without the value)."""
        self.check_writable()
        self.trigger_event(
            events.RotationFailed,
            step=step,
            reason=reason,
            value_version=self.labels.get(PENDING, self.value_version),
            actor=actor,
            timestamp=at,
        )

    def finish_rotation(self, value: Value, *, at: datetime, actor: str | None) -> None:
        """Promote the pending version (whose value is ``value``) to current."""
        version = self.pending_version()
        self.trigger_event(
            events.Rotated,
            value=value,
            value_version=version,
            actor=actor,
            timestamp=at,
        )

    # ------------------------------------------------------------ queries

    def pending_version(self) -> int:
        """The version staged ``pending`` (writable secrets only)."""
        self.check_writable()
        version = self.labels.get(PENDING)
        if version is None or version == self.value_version:
            msg = f"secret {describe(self.name, self.namespace)} has no pending version"
            raise ValidationError(msg)
        return version

    def stage_version(self, stage: str) -> int:
        """The version a stage is on; VersionNotFoundError if it is on none."""
        if stage == CURRENT:
            return self.value_version
        try:
            return self.labels[stage]
        except KeyError:
            where = describe(self.name, self.namespace)
            msg = f"secret {where} has no version staged {stage!r}"
            raise VersionNotFoundError(msg) from None

    def version_id(self, version: int) -> str:
        """A version's id: the one its writer gave, else one derived from it."""
        given = self.version_ids.get(version)
        return (
            given
            if given is not None
            else str(uuid5(VERSION_IDS, f"{self.id}/{version}"))
        )

    def version_with_id(self, version_id: str) -> int | None:
        """The version that has ``version_id`` among those this state knows (every
        version when replayed; the staged ones when loaded from its head)."""
        known = {*self.value_log, self.value_version, *self.labels.values()}
        for version in sorted(known, reverse=True):
            if self.version_id(version) == version_id:
                return version
        return None

    def staged_version_ids(self) -> dict[int, str]:
        """The given ids of the versions that carry a stage (what a head keeps)."""
        staged = {self.value_version, *self.labels.values()}
        return {v: i for v, i in self.version_ids.items() if v in staged}

    def position_of(self, value_version: int) -> int:
        """Stream position of the event that set ``value_version``."""
        self._check_history()
        try:
            return self.value_log[value_version][0]
        except KeyError:
            msg = f"secret {describe(self.name, self.namespace)} has no version {value_version}"
            raise VersionNotFoundError(msg) from None

    def versions(self) -> list[SecretVersion]:
        """Every value version with its stages, newest first."""
        self._check_history()
        return [
            SecretVersion(
                version=number,
                created_at=at,
                created_by=by,
                cause=cause,
                source_version=source,
                stages=stages_of(number, self.value_version, self.labels),
                version_id=self.version_id(number),
            )
            for number, (_, at, by, cause, source) in sorted(
                self.value_log.items(), reverse=True
            )
        ]

    def info(self, now: datetime) -> Secret:
        """The secret's metadata as the public API shows it."""
        interval = self.rotation_interval
        return Secret(
            id=self.id,
            name=self.name,
            namespace=self.namespace,
            version=self.value_version,
            description=self.description,
            token_type=self.token_type,
            allowed_apps=self.allowed_apps,
            envs=self.envs,
            expires_at=self.expires_at,
            tags=dict(self.tags),
            status=self.status,
            created_at=self.created_on,
            created_by=self.created_by,
            updated_at=self.modified_on,
            updated_by=self.updated_by,
            is_expired=self.is_expired(now),
            deletion_date=self.deletion_date,
            rotation_interval=None if interval is None else timedelta(seconds=interval),
            last_rotated_at=self.last_rotated_at,
            next_rotation_at=next_rotation(
                self.created_on, self.last_rotated_at, interval
            ),
            version_id=self.version_id(self.value_version),
        )

    def is_expired(self, now: datetime) -> bool:
        """True once ``expires_at`` has passed (deleted secrets never expire)."""
        return (
            self.status is not Status.DELETED
            and self.expires_at is not None
            and self.expires_at <= now
        )

    def check_live(self) -> None:
        """SecretDeletedError once the tombstone is recorded."""
        if self.status is Status.DELETED:
            msg = f"secret {describe(self.name, self.namespace)} was deleted"
            raise SecretDeletedError(msg)

    def check_writable(self) -> None:
        """Also SecretPendingDeletionError while a deletion is scheduled."""
        self.check_live()
        if self.status is Status.PENDING_DELETION:
            where = describe(self.name, self.namespace)
            msg = f"secret {where} is scheduled for deletion; restore it to change it"
            raise SecretPendingDeletionError(msg)

    def _check_history(self) -> None:
        if not self.history_complete:
            msg = "this secret was loaded from its head; replay its stream for versions"
            raise RuntimeError(msg)

    # --------------------------------------------------- state changes

    def log_version(
        self,
        version: int,
        at: datetime,
        actor: str | None,
        cause: Cause,
        source_version: int | None,
        *,
        position: int,
    ) -> None:
        """Record that the event at ``position`` added value version ``version``."""
        self.value_log[version] = (position, at, actor, cause, source_version)
        self.latest_version = max(self.latest_version, version)

    def make_current(self, value: Value, version: int) -> None:
        """``current`` moves to ``version``; ``previous`` to where it was."""
        if version != self.value_version:
            self.labels[PREVIOUS] = self.value_version
        if self.labels.get(PENDING) == version:
            del self.labels[PENDING]
            self.rotation_step = None
        self.value = value
        self.value_version = version


def next_rotation(
    created: datetime, last_rotated: datetime | None, interval: int | None
) -> datetime | None:
    """When a secret is next due for rotation: an interval after its last one."""
    if interval is None:
        return None
    return (last_rotated or created) + timedelta(seconds=interval)
