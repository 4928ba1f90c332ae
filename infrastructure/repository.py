"""The secrets' repository: load a secret by address or id, from its head or by
replay, its value at a version, and save, inside the key ring's scopes.

Hot path (tuned by measurement): a reveal is one indexed query that returns the
head, the wrapped data key and the stream's last position together; a name's id is
cached for good once read (reservations never change).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from strongroom.domain.errors import (
    SecretDeletedError,
    SecretNotFoundError,
    describe,
)
from strongroom.domain.reservations import NameReservation
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.stream import (
    TOPIC_CLASSES,
    IncompleteStreamError,
    Shredded,
    Tombstone,
    replay,
)
from strongroom.domain.validation import Value
from strongroom.infrastructure.recorders import HeadRow, KeyStoreRecorder

if TYPE_CHECKING:
    from strongroom.infrastructure.keys import KeyRing
    from strongroom.infrastructure.store import StrongroomApplication

_NAME_CACHE_LIMIT = 100_000


class SecretRepository:
    """Loads and saves secrets for the services; the one place that reads them."""

    def __init__(self, app: StrongroomApplication) -> None:
        self._app = app
        self._keys: KeyRing = app.keys
        # The application's recorder is one of ours: it keeps heads with events.
        self._heads = cast("KeyStoreRecorder", app.recorder)
        self._addresses: dict[tuple[str | None, str], UUID] = {}
        self._addresses_lock = threading.Lock()

    def operation(self) -> AbstractContextManager[Any]:
        """A key-ring scope: unwrapped data keys are kept until it ends."""
        return self._keys.operation()

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]:
        """Save aggregates and events in one transaction (key rows with them)."""
        return self._app.save(*objs, **kwargs)

    def events(self, stream_id: UUID, **options: Any) -> Iterator[Any]:
        """The domain events of one stream (``limit``, ``lte`` as eventsourcing's)."""
        return iter(self._app.events.get(stream_id, **options))

    def secret_id(self, name: str, namespace: str | None) -> UUID | None:
        """The id of the secret that holds (or held) an address, if any."""
        secret_id = self._addresses.get((namespace, name))
        if secret_id is not None:
            return secret_id
        reservation_id = self._keys.name_reservation_id(namespace, name)
        events = list(self._app.events.get(reservation_id, limit=1))
        if not events:
            return None
        first = events[0]
        assert isinstance(first, NameReservation.Created)
        # Reservations never change, so this mapping can be kept for good.
        with self._addresses_lock:
            if len(self._addresses) >= _NAME_CACHE_LIMIT:
                self._addresses.clear()
            self._addresses[namespace, name] = first.secret_id
        return first.secret_id

    def lookup(
        self, name: str, namespace: str | None, *, full: bool = False
    ) -> SecretAggregate | Tombstone | None:
        """The secret at an address: live, its tombstone, or None."""
        secret_id = self.secret_id(name, namespace)
        return None if secret_id is None else self.load(secret_id, full=full)

    def from_head(self, secret_id: UUID, row: HeadRow | None) -> SecretAggregate | None:
        """The secret from its head row; None when the stream must say instead.

        No head, a stale one or a shredded one: the stream says what happened.
        """
        if row is None or row.key is None or row.version != row.last_version:
            return None
        self._keys.preload(secret_id, row.key)
        head = self._app.shredding_mapper.open_head(secret_id, row.version, row.state)
        return None if head is None else head.mutate(None)

    def load(
        self, secret_id: UUID, *, full: bool = False
    ) -> SecretAggregate | Tombstone | None:
        """The secret from its head (flat in history), or ``full``y replayed."""
        if not full:
            found = self.from_head(secret_id, self._heads.select_head(secret_id))
            if found is not None:
                return found
        for _ in range(2):
            events = list(self._app.events.get(secret_id))
            if not events or not _is_secret_stream(events[0]):
                return None
            try:
                return replay(events)
            except IncompleteStreamError:
                # A delete committed between reading the events and the key.
                continue
        msg = f"secret {secret_id} is shredded but its tombstone is missing"
        raise SecretDeletedError(msg)

    def load_page(self, ids: list[UUID]) -> list[SecretAggregate | Tombstone | None]:
        """Many secrets in one query for their heads; one without a head is replayed."""
        heads = self._heads.select_heads(ids)
        return [
            self.from_head(secret_id, heads.get(secret_id)) or self.load(secret_id)
            for secret_id in ids
        ]

    def value_at(self, secret: SecretAggregate, version: int) -> Value:
        """The value of ``version`` of a fully replayed secret: that of the one
        event that added it (a rotation's pending version is not current)."""
        position = secret.position_of(version)
        found = list(self._app.events.get(secret.id, gt=position - 1, lte=position))
        value = getattr(found[0], "value", None) if found else None
        if value is None:
            where = describe(secret.name, secret.namespace)
            raise SecretDeletedError(f"secret {where} was deleted")
        return cast("Value", value)


def live(
    found: SecretAggregate | Tombstone | None, name: str, namespace: str | None
) -> SecretAggregate:
    """``found`` if it is a live secret; else the error that says why not."""
    if isinstance(found, Tombstone):
        raise SecretDeletedError(f"secret {describe(name, namespace)} was deleted")
    if found is None:
        raise SecretNotFoundError(f"secret {describe(name, namespace)} not found")
    return found


def _is_secret_stream(first: object) -> bool:
    if isinstance(first, Shredded):
        return first.topic in TOPIC_CLASSES
    return isinstance(first, SecretAggregate.Created)
