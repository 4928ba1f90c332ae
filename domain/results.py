"""What the public API returns: frozen value objects that never carry a secret value."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID


class Status(StrEnum):
    """Lifecycle state of a secret."""

    ACTIVE = "active"
    REVOKED = "revoked"
    PENDING_DELETION = "pending_deletion"
    DELETED = "deleted"


class Cause(StrEnum):
    """Why a value version exists."""

    CREATED = "created"
    UPDATED = "updated"
    PATCHED = "patched"
    ROLLED_BACK = "rolled_back"
    ROTATED = "rotated"  # a rotation's pending version


class Action(StrEnum):
    """What an audit entry records."""

    CREATED = "created"
    UPDATED = "updated"
    PATCHED = "patched"
    ROLLED_BACK = "rolled_back"
    METADATA_CHANGED = "metadata_changed"
    REVOKED = "revoked"
    REINSTATED = "reinstated"
    DELETED = "deleted"
    REVEALED = "revealed"
    DELETION_SCHEDULED = "deletion_scheduled"
    RESTORED = "restored"
    LABELLED = "labelled"
    UNLABELLED = "unlabelled"
    PROMOTED = "promoted"
    ROTATION_STARTED = "rotation_started"
    ROTATION_STEP = "rotation_step"
    ROTATION_FAILED = "rotation_failed"
    ROTATED = "rotated"


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret's metadata (never its value)."""

    id: UUID
    name: str
    namespace: str | None
    version: int
    description: str | None
    token_type: str | None
    allowed_apps: tuple[str, ...]
    envs: tuple[str, ...]
    expires_at: datetime | None
    tags: dict[str, str]
    status: Status
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None
    is_expired: bool
    deletion_date: datetime | None = None
    rotation_interval: timedelta | None = None
    last_rotated_at: datetime | None = None
    next_rotation_at: datetime | None = None
    version_id: str | None = None  # the current version's (listings leave it out)


@dataclass(frozen=True, slots=True)
class SecretVersion:
    """One value version of a secret, with the stages (labels) on it."""

    version: int
    created_at: datetime
    created_by: str | None
    cause: Cause
    source_version: int | None = None
    stages: tuple[str, ...] = ()
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class Revealed:
    """A revealed value with the version it is: number, id and stages (what AWS's
    ``GetSecretValue`` answers). The value is left out of the repr."""

    value: Any = field(repr=False)
    version: int
    version_id: str
    stages: tuple[str, ...]
    secret_id: UUID


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Which secret: its id and address."""

    id: UUID
    name: str
    namespace: str | None


@dataclass(frozen=True, slots=True)
class SecretStats:
    """Counts over the live and deleted secrets of a store (or of one namespace)."""

    total: int
    active: int
    revoked: int
    expired: int
    expiring_soon: int
    deleted: int
    by_namespace: dict[str, int] = field(default_factory=dict)
    pending_deletion: int = 0
    rotation_due: int = 0


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing; pass ``next_cursor`` back to get the next one."""

    items: list[Secret]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded action on a secret, as replayed from the event log."""

    at: datetime
    actor: str | None
    action: Action
    secret_id: UUID
    name: str | None
    namespace: str | None
    version: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One aggregate key id of ``sm.keys``: its idx, id and secret (None if deleted)."""

    idx: int
    id: str
    secret: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyPage:
    """A batch of ``load_secrets``; pass ``next_idx`` back as ``idx`` to go on."""

    records: tuple[KeyRecord, ...]
    next_idx: int | None

    def __iter__(self) -> Iterator[KeyRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True, slots=True)
class KeyStats:
    """Counts of ``sm.keys``: every id ever issued, live ones and deleted ones."""

    secret_count: int
    set_secret_count: int
    deleted_secret_count: int


@dataclass(frozen=True, slots=True)
class KeyImport:
    """What ``import_secrets`` restored: live keys and tombstones."""

    imported: int
    tombstones: int


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a master-key rotation did: re-wrapped key rows and retired key ids."""

    master_key_id: str
    rewrapped: int
    retired: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change to a secret, in log order (metadata, never a value)."""

    position: int
    at: datetime
    action: Action
    secret_id: UUID
    name: str | None
    namespace: str | None
    version: int | None
    actor: str | None


@dataclass(frozen=True, slots=True)
class ChangePage:
    """A page of ``changes``; pass ``position`` back as ``after`` to go on."""

    changes: tuple[Change, ...]
    position: int

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    def __len__(self) -> int:
        return len(self.changes)


@dataclass(frozen=True, slots=True)
class Injected:
    """One variable of an injection: which secret (and field) it holds."""

    variable: str
    name: str
    namespace: str | None
    secret_id: UUID
    version: int
    field: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Injection:
    """Secrets as environment variables, read at ``position`` in the log.

    ``variables`` holds values, so it is left out of the repr; ``watched`` is
    every secret read (references included).
    """

    variables: dict[str, str] = field(repr=False)
    sources: tuple[Injected, ...]
    watched: frozenset[UUID]
    position: int

    def first_to_expire(self) -> Injected | None:
        """The injected secret that expires first, if any expires."""
        expiring = [s for s in self.sources if s.expires_at is not None]
        return min(expiring, key=lambda s: s.expires_at or datetime.max, default=None)
