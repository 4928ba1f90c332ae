"""What a secret's stream reads back as: heads (its state at the latest version),
tombstones, shredded placeholders, and the replay that turns events into either;
also what each event means to the audit (its action and value version).

Times and ids are passed in; this module knows no clock, no database and no crypto.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, NoReturn
from uuid import UUID

from eventsourcing.domain import Snapshot

from strongroom.domain.errors import (
    AggregateShreddedError,
)
from strongroom.domain.lifecycle import PREVIOUS
from strongroom.domain.results import Action, Secret, Status
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.secret_events import LIFECYCLE_EVENTS, SecretEvent


@dataclass(frozen=True)
class Shredded:
    """Placeholder for an event whose data key was destroyed (crypto-shredded).

    It keeps what the event log must still tell auditors: which stream, which
    position, what kind of event, and the audit fields (when, who).
    """

    originator_id: UUID
    originator_version: int
    topic: str
    audit: Mapping[str, Any] = field(default_factory=dict)

    @property
    def timestamp(self) -> datetime | None:
        """When the shredded event happened, if recorded."""
        return self.audit.get("timestamp")

    @property
    def actor(self) -> str | None:
        """Who caused the shredded event, if recorded."""
        return self.audit.get("actor")

    def mutate(self, aggregate: object) -> NoReturn:
        """Replaying a shredded stream fails with a clear error, not garbage."""
        del aggregate
        msg = (
            f"aggregate {self.originator_id} was forgotten: its events are "
            "crypto-shredded and can no longer be replayed"
        )
        raise AggregateShreddedError(msg)


class Head(Snapshot):
    """A secret's current state, saved with every change in the same transaction.

    Reads that need only the current state (reveal, get, update) load this one
    record instead of replaying the stream, so they cost the same at version 1 and
    at version 10,000. The per-version log is left out (it grows with history);
    reads that need it replay the stream. Heads are sealed under the secret's data
    key like its events, and are deleted with it.
    """

    TOPIC = "strongroom:Secret.Head.v1"
    AUDIT_FIELDS: ClassVar[tuple[str, ...]] = ()
    SHREDDABLE: ClassVar[bool] = True

    def __repr__(self) -> str:
        # The dataclass repr would print the state, the value included.
        return f"SecretAggregate.Head(id={self.originator_id!r}, version={self.originator_version})"

    @classmethod
    def of(cls, secret: SecretAggregate) -> Head:
        """The head of ``secret`` as it is now (pending events applied)."""
        return cls(
            originator_id=secret.id,
            originator_version=secret.version,
            timestamp=secret.modified_on,
            topic=SecretAggregate.TOPIC,
            state={
                "name": secret.name,
                "namespace": secret.namespace,
                "value": secret.value,
                "value_version": secret.value_version,
                "description": secret.description,
                "token_type": secret.token_type,
                "allowed_apps": list(secret.allowed_apps),
                "envs": list(secret.envs),
                "expires_at": secret.expires_at,
                "tags": dict(secret.tags),
                "status": str(secret.status),
                "created_on": secret.created_on,
                "created_by": secret.created_by,
                "updated_by": secret.updated_by,
                "latest_version": secret.latest_version,
                "labels": dict(secret.labels),
                "restore_status": (
                    None
                    if secret.restore_status is None
                    else str(secret.restore_status)
                ),
                "deletion_date": secret.deletion_date,
                "rotation_interval": secret.rotation_interval,
                "last_rotated_at": secret.last_rotated_at,
                "rotation_step": secret.rotation_step,
                # Pairs, not an object: JSON keys would come back as text.
                "version_ids": sorted(secret.staged_version_ids().items()),
            },
        )

    def mutate(self, _: None) -> SecretAggregate:  # type: ignore[override]
        """The secret this head records, without its per-version log."""
        state = {**_HEAD_DEFAULTS, **self.state}
        # Heads saved before stages existed: history was linear then.
        version = state["value_version"]
        state.setdefault("latest_version", version)
        if state["labels"] is None:
            state["labels"] = {PREVIOUS: version - 1} if version > 1 else {}
        restore = state.pop("restore_status")
        version_ids = {int(v): str(i) for v, i in state.pop("version_ids") or ()}
        secret = object.__new__(SecretAggregate)
        vars(secret).update(
            _id=self.originator_id,
            _version=self.originator_version,
            _created_on=state.pop("created_on"),
            _modified_on=self.timestamp,
            _pending_events=[],
            allowed_apps=tuple(state.pop("allowed_apps")),
            envs=tuple(state.pop("envs")),
            status=Status(state.pop("status")),
            restore_status=None if restore is None else Status(restore),
            version_ids=version_ids,
            value_log={},
            history_complete=False,
            **state,
        )
        return secret


_HEAD_DEFAULTS: dict[str, Any] = {
    "labels": None,
    "restore_status": None,
    "deletion_date": None,
    "rotation_interval": None,
    "last_rotated_at": None,
    "rotation_step": None,
    "version_ids": None,
}


def action_of(event: object) -> Action:
    """The audit action of a Secret event or of its shredded placeholder."""
    if isinstance(event, Shredded):
        cls = TOPIC_CLASSES.get(event.topic)
        if cls is SecretAggregate.ValueChanged:
            return Action(str(event.audit.get("cause", Action.UPDATED)))
        return cls.ACTION if cls is not None else Action.UPDATED
    if isinstance(event, SecretAggregate.ValueChanged):
        return Action(event.cause)
    return type(event).ACTION  # type: ignore[attr-defined, no-any-return]


def value_version_of(event: object) -> int | None:
    """The value version an event (or its shredded placeholder) leaves the secret at."""
    if isinstance(event, Shredded):
        if event.topic == SecretAggregate.Created.TOPIC:
            return 1
        version = event.audit.get("value_version")
        return version if isinstance(version, int) else None
    if isinstance(event, SecretAggregate.Created):
        return 1
    version = getattr(event, "value_version", None)
    return version if isinstance(version, int) else None


_EVENT_CLASSES: tuple[type[SecretEvent], ...] = (
    SecretAggregate.Created,
    SecretAggregate.ValueChanged,
    SecretAggregate.MetadataChanged,
    SecretAggregate.Revoked,
    SecretAggregate.Reinstated,
    *LIFECYCLE_EVENTS,
    SecretAggregate.Deleted,
)
TOPIC_CLASSES: dict[str, type[SecretEvent]] = {cls.TOPIC: cls for cls in _EVENT_CLASSES}


@dataclass(frozen=True)
class Tombstone:
    """What remains of a deleted secret: its address and bare facts."""

    id: UUID
    name: str
    namespace: str | None
    value_version: int
    created_at: datetime
    created_by: str | None
    deleted_at: datetime
    deleted_by: str | None

    @classmethod
    def from_event(cls, deleted: SecretAggregate.Deleted) -> Tombstone:
        """Build the tombstone from the Deleted event."""
        return cls(
            id=deleted.originator_id,
            name=deleted.name,
            namespace=deleted.namespace,
            value_version=deleted.value_version,
            created_at=deleted.created_at,
            created_by=deleted.created_by,
            deleted_at=deleted.timestamp,
            deleted_by=deleted.actor,
        )

    def info(self) -> Secret:
        """The tombstone as the public API shows it: metadata is shredded too."""
        return Secret(
            id=self.id,
            name=self.name,
            namespace=self.namespace,
            version=self.value_version,
            description=None,
            token_type=None,
            allowed_apps=(),
            envs=(),
            expires_at=None,
            tags={},
            status=Status.DELETED,
            created_at=self.created_at,
            created_by=self.created_by,
            updated_at=self.deleted_at,
            updated_by=self.deleted_by,
            is_expired=False,
        )


class IncompleteStreamError(Exception):
    """Shredded events without their tombstone: the read raced a delete; read again."""


def replay(events: Iterable[object]) -> SecretAggregate | Tombstone | None:
    """Fold a Secret's events (some maybe shredded) into the aggregate or its tombstone."""
    secret: SecretAggregate | None = None
    shredded = False
    for item in events:
        if isinstance(item, SecretAggregate.Deleted):
            return Tombstone.from_event(item)
        if isinstance(item, Shredded):
            shredded = True
        elif not shredded:
            secret = item.mutate(secret)  # type: ignore[attr-defined]
    if shredded:
        raise IncompleteStreamError
    return secret
