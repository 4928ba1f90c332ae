"""The SecretAggregate: a named value with versions, metadata and a lifecycle.

Times and ids are passed in; this module knows no clock, no database and no crypto.
Events list the fields that outlive crypto-shredding in ``AUDIT_FIELDS`` (who and
when, never what); ``SHREDDABLE = False`` events are kept readable after delete.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import field
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from strongroom.domain import secret_events as events
from strongroom.domain.errors import ValidationError
from strongroom.domain.fields import comparable, stored_form
from strongroom.domain.results import Action, Cause, Status
from strongroom.domain.secret_state import SecretState
from strongroom.domain.validation import Value

METADATA_FIELDS = (
    "description",
    "token_type",
    "allowed_apps",
    "envs",
    "expires_at",
    "tags",
    "rotation_interval",
)


class SecretAggregate(SecretState, Aggregate):
    """A secret: its current value, value versions, metadata and status."""

    TOPIC = "strongroom:Secret"

    Event: TypeAlias = events.SecretEvent

    class Created(Event, Aggregate.Created):
        """The secret was created with its first value (value version 1)."""

        TOPIC = "strongroom:Secret.Created.v1"
        ACTION = Action.CREATED
        name: str
        namespace: str | None
        value: Value = field(repr=False)
        description: str | None
        token_type: str | None
        allowed_apps: list[str]
        envs: list[str]
        expires_at: datetime | None
        tags: dict[str, str]
        # Added later (events before it have none): the version's id, when the
        # writer gave one (an AWS ClientRequestToken, a request id).
        version_id: str | None = None

    class ValueChanged(Event):
        """A new value version: an update, a patch or a rollback."""

        TOPIC = "strongroom:Secret.ValueChanged.v1"
        ACTION = Action.UPDATED  # refined per event by action_of()
        AUDIT_FIELDS = (
            "timestamp",
            "actor",
            "value_version",
            "cause",
            "source_version",
        )
        value: Value = field(repr=False)
        value_version: int
        cause: str
        source_version: int | None
        version_id: str | None = None  # added later, as Created's

    class MetadataChanged(Event):
        """Some metadata fields changed; the value version stays."""

        TOPIC = "strongroom:Secret.MetadataChanged.v1"
        ACTION = Action.METADATA_CHANGED
        changes: dict[str, Any]

    class Revoked(Event):
        """The secret may no longer be revealed."""

        TOPIC = "strongroom:Secret.Revoked.v1"
        ACTION = Action.REVOKED

    class Reinstated(Event):
        """A revoked secret may be revealed again."""

        TOPIC = "strongroom:Secret.Reinstated.v1"
        ACTION = Action.REINSTATED

    # The lifecycle's events are defined with their state changes in
    # ``secret_events``; nested here so the aggregate names every event it has.
    DeletionScheduled = events.DeletionScheduled
    DeletionCancelled = events.DeletionCancelled
    Labelled = events.Labelled
    Unlabelled = events.Unlabelled
    Promoted = events.Promoted
    RotationStarted = events.RotationStarted
    RotationStepPassed = events.RotationStepPassed
    RotationFailed = events.RotationFailed
    Rotated = events.Rotated

    class Deleted(Event):
        """The tombstone: the secret's data key is destroyed with this event.

        Not shreddable: it keeps the address and the bare facts of the secret.
        """

        TOPIC = "strongroom:Secret.Deleted.v1"
        ACTION = Action.DELETED
        SHREDDABLE = False
        name: str
        namespace: str | None
        value_version: int
        created_at: datetime
        created_by: str | None

    def __init__(
        self,
        name: str,
        namespace: str | None,
        value: Value,
        description: str | None,
        token_type: str | None,
        allowed_apps: list[str],
        envs: list[str],
        expires_at: datetime | None,
        tags: dict[str, str],
        actor: str | None,
        version_id: str | None = None,
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.value: Value | None = value
        self.value_version = 1
        self.description = description
        self.token_type = token_type
        self.allowed_apps = tuple(allowed_apps)
        self.envs = tuple(envs)
        self.expires_at = expires_at
        self.tags = dict(tags)
        self.status = Status.ACTIVE
        self.created_by = actor
        self.updated_by = actor
        # value version -> (stream position, when, who, cause, source version)
        self.value_log: dict[int, tuple[int, datetime, str | None, Cause, int | None]]
        self.value_log = {1: (1, self.created_on, actor, Cause.CREATED, None)}
        # False when loaded from its head: value_log then lacks older versions.
        self.history_complete = True
        self.latest_version = 1  # value_version is current's; this the highest
        self.labels: dict[str, int] = {}  # every stage but current -> its version
        self.restore_status: Status | None = None
        self.deletion_date: datetime | None = None
        self.rotation_interval: int | None = None  # seconds
        self.last_rotated_at: datetime | None = None
        self.rotation_step: str | None = None  # the last step a rotation passed
        # Versions whose id was given (the others' ids are derived: version_id()).
        self.version_ids: dict[int, str] = {} if version_id is None else {1: version_id}

    def __repr__(self) -> str:
        # The default repr lists every attribute, the value included.
        return (
            f"SecretAggregate(id={self.id!r}, name={self.name!r}, namespace={self.namespace!r},"
            f" version={self.value_version}, status={self.status.value!r})"
        )

    # ------------------------------------------------------------------ commands

    @classmethod
    def create(
        cls,
        *,
        secret_id: UUID,
        at: datetime,
        name: str,
        namespace: str | None,
        value: Value,
        description: str | None = None,
        token_type: str | None = None,
        allowed_apps: Iterable[str] = (),
        envs: Iterable[str] = (),
        expires_at: datetime | None = None,
        tags: Mapping[str, str] | None = None,
        actor: str | None = None,
        version_id: str | None = None,
    ) -> SecretAggregate:
        """Create a secret (arguments already validated by the caller)."""
        return cls._create(
            cls.Created,
            id=secret_id,
            timestamp=at,
            name=name,
            namespace=namespace,
            value=value,
            description=description,
            token_type=token_type,
            allowed_apps=list(allowed_apps),
            envs=list(envs),
            expires_at=expires_at,
            tags=dict(tags or {}),
            actor=actor,
            version_id=version_id,
        )

    def change_value(
        self,
        value: Value,
        *,
        at: datetime,
        actor: str | None,
        cause: Cause = Cause.UPDATED,
        source_version: int | None = None,
        version_id: str | None = None,
    ) -> None:
        """Record a new value version (its id ``version_id`` when one is given)."""
        self.check_writable()
        self._value_changed(
            value=value,
            value_version=self.latest_version + 1,
            cause=str(cause),
            source_version=source_version,
            version_id=version_id,
            actor=actor,
            timestamp=at,
        )

    def roll_back(
        self, source_version: int, old_value: Value, *, at: datetime, actor: str | None
    ) -> None:
        """Record a new value version carrying the value of ``source_version``."""
        self.position_of(source_version)
        self.change_value(
            old_value,
            at=at,
            actor=actor,
            cause=Cause.ROLLED_BACK,
            source_version=source_version,
        )

    def change_metadata(
        self, changes: Mapping[str, Any], *, at: datetime, actor: str | None
    ) -> bool:
        """Change the given metadata fields; False (and no event) if none differ."""
        self.check_writable()
        unknown = set(changes) - set(METADATA_FIELDS)
        if unknown:
            msg = f"unknown metadata fields: {', '.join(sorted(unknown))}"
            raise ValidationError(msg)
        differing = {
            key: list(val) if isinstance(val, tuple) else val
            for key, val in changes.items()
            if comparable(getattr(self, key)) != comparable(val)
        }
        if not differing:
            return False
        self._metadata_changed(changes=differing, actor=actor, timestamp=at)
        return True

    def revoke(self, *, at: datetime, actor: str | None) -> bool:
        """Revoke the secret; False if it already is."""
        self.check_writable()
        if self.status is Status.REVOKED:
            return False
        self._revoked(actor=actor, timestamp=at)
        return True

    def reinstate(self, *, at: datetime, actor: str | None) -> bool:
        """Reinstate a revoked secret; False if it is not revoked."""
        self.check_writable()
        if self.status is not Status.REVOKED:
            return False
        self._reinstated(actor=actor, timestamp=at)
        return True

    def delete(self, *, at: datetime, actor: str | None) -> None:
        """Record the tombstone (the caller destroys the data key with it)."""
        self.check_live()
        self._deleted(
            name=self.name,
            namespace=self.namespace,
            value_version=self.value_version,
            created_at=self.created_on,
            created_by=self.created_by,
            actor=actor,
            timestamp=at,
        )

    # ----------------------------------------------------- event application

    @event(ValueChanged)
    def _value_changed(
        self,
        value: Value,
        value_version: int,
        cause: str,
        source_version: int | None,
        actor: str | None,
        timestamp: datetime,
        version_id: str | None = None,
    ) -> None:
        if version_id is not None:
            self.version_ids[value_version] = version_id
        self.log_version(
            value_version,
            timestamp,
            actor,
            Cause(cause),
            source_version,
            position=self.version + 1,
        )
        self.make_current(value, value_version)
        self.updated_by = actor

    @event(MetadataChanged)
    def _metadata_changed(
        self, changes: dict[str, Any], actor: str | None, timestamp: datetime
    ) -> None:
        for key, val in changes.items():
            setattr(self, key, stored_form(key, val))
        self.updated_by = actor

    @event(Revoked)
    def _revoked(self, actor: str | None, timestamp: datetime) -> None:
        self.status = Status.REVOKED
        self.updated_by = actor

    @event(Reinstated)
    def _reinstated(self, actor: str | None, timestamp: datetime) -> None:
        self.status = Status.ACTIVE
        self.updated_by = actor

    @event(Deleted)
    def _deleted(
        self,
        name: str,
        namespace: str | None,
        value_version: int,
        created_at: datetime,
        created_by: str | None,
        actor: str | None,
        timestamp: datetime,
    ) -> None:
        self.status = Status.DELETED
        self.value = None
        self.updated_by = actor
