"""What every service shares: the store it works on, the clock, the default actor."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from strongroom.domain import validation as check
from strongroom.domain.generation import Generate
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.stream import Tombstone
from strongroom.domain.validation import Value
from strongroom.infrastructure.recorders import KeyChange
from strongroom.projections.runner import CatchUp
from strongroom.projections.secrets import SecretsView

SYSTEM_RANDOM = secrets.SystemRandom()
"""What generated values are drawn with: the operating system's randomness."""

MAX_WRITE_RETRIES = 50
"""How often a write that lost a race is tried again before VersionConflictError."""
MAX_PAGE = 1000


def now() -> datetime:
    """The current moment (services take time from here, the domain is given it)."""
    return datetime.now(UTC)


class Repository(Protocol):
    """The services' port to stored secrets (``infrastructure.repository`` in use;
    tests may give an in-memory one)."""

    def operation(self) -> AbstractContextManager[Any]:
        """A scope in which unwrapped keys are kept."""

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save in one transaction; IntegrityError if a stream moved on."""

    def events(self, stream_id: UUID, **options: Any) -> Iterator[Any]:
        """A stream's events."""

    def secret_id(self, name: str, namespace: str | None) -> UUID | None:
        """The id of the secret that holds (or held) an address."""

    def lookup(
        self, name: str, namespace: str | None, *, full: bool = False
    ) -> SecretAggregate | Tombstone | None:
        """The secret at an address."""

    def load(
        self, secret_id: UUID, *, full: bool = False
    ) -> SecretAggregate | Tombstone | None:
        """The secret with an id."""

    def load_page(self, ids: list[UUID]) -> list[SecretAggregate | Tombstone | None]:
        """Many secrets."""

    def value_at(self, secret: SecretAggregate, version: int) -> Value:
        """A value version of a fully replayed secret."""


class KeyIds(Protocol):
    """The services' port to the key ring: derived ids, data keys, fingerprints."""

    def name_reservation_id(self, namespace: str | None, name: str) -> UUID:
        """The reservation stream of an address."""

    def request_receipt_id(self, request_id: str) -> UUID:
        """The receipt stream of a request id."""

    def fingerprint(self, *parts: object) -> str:
        """A keyed fingerprint of a request's arguments."""

    def wrap(self, key_id: UUID, material: bytes) -> KeyChange:
        """A new data key's row, wrapped."""

    def staged(self, key_id: UUID, data_key: bytes) -> AbstractContextManager[None]:
        """A new data key usable before its row is committed."""

    def forget(self, key_id: UUID) -> None:
        """Drop a destroyed key from every cache."""


class LogSignal(Protocol):
    """Wakes a watcher of the log when a write may have committed."""

    def wait(self, timeout: float) -> bool:
        """Whether the log may have grown within ``timeout`` seconds."""

    def close(self) -> None:
        """Release what it holds (idempotent)."""


class EventLog(Protocol):
    """The event log as the change feed sees it: its end and a wake-up signal."""

    def max_notification_id(self) -> int | None:
        """The last position written (None while the log is empty)."""

    def log_signal(self) -> LogSignal:
        """A new signal, for one watcher."""


@dataclass(frozen=True, slots=True)
class Store:
    """One open store, as the services see it."""

    repo: Repository
    keys: KeyIds
    view: SecretsView
    catch_up: CatchUp
    log: EventLog
    actor: str | None
    audit_reads: bool
    strict_access: bool


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A write made under a client's request id: where its receipt goes, and what."""

    receipt_id: UUID
    operation: str
    fingerprint: str
    request_id: str = ""  # also the id of the version the write adds


class Service:
    """Base of the services: the store's parts under short names."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._repo = store.repo
        self._keys = store.keys
        self._view = store.view
        self._catch_up = store.catch_up

    def _who(self, actor: str | None) -> str | None:
        return check.check_actor(actor) if actor is not None else self._store.actor


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()
"""Marks an optional argument that was not given (None means 'clear it')."""


def given_fields(**fields: Any) -> dict[str, Any]:
    """The optional fields a caller passed (those left UNSET dropped)."""
    return {key: val for key, val in fields.items() if val is not UNSET}


def given_value(value: Value | Generate) -> tuple[Value, Any]:
    """The value to store, and what a request's fingerprint holds for it: for a
    generated one its rules, so a retry answers the first call instead of
    generating again."""
    if isinstance(value, Generate):
        return value.value(SYSTEM_RANDOM), {"generate": dataclasses.asdict(value)}
    return value, value
