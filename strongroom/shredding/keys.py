"""A host application's key source: each aggregate's data key, from strongroom's store.

Data keys are the reSolve-style ``sm.keys`` secrets under the id ``str(aggregate_id)``.
Two caches make them cheap, and neither can outlive a forget:

- keys to *open* events with are keyed by the wrapped key the recorder read with the
  events (in the same query, or in one query per page of events): a destroyed key
  reads back as no row, whatever this process remembers;
- keys to *seal* new events with are reused only when a shredding recorder checks,
  in the same transaction as the insert (or just before it, when the keys live in
  another database), that the key row still exists.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.utils import Environment

from strongroom.domain.errors import (
    AggregateShreddedError,
    KeyDeletedError,
    KeyReusedError,
)
from strongroom.infrastructure.crypto import Sealer, derive, new_key
from strongroom.infrastructure.mapper import SHREDDABLE
from strongroom.infrastructure.recorders import KeyRow, KeyStoreRecorder
from strongroom.services.keys import KeyAPI
from strongroom.shredding.stores import open_store

if TYPE_CHECKING:
    from eventsourcing.domain import DomainEventProtocol

    from strongroom.infrastructure.keys import KeyRing
    from strongroom.services.field_encryption import FieldEncryption

MAPPER_TOPIC = "strongroom.shredding:ShreddingMapper"
CIPHER_TOPIC = "strongroom.shredding:StrongroomKeys"
_CACHED_KEYS = 4096
"""Data keys kept per key source (each one checked against the store on use)."""
_FORGOTTEN_KEPT = 65536
"""Ids of aggregates forgotten by this process that it keeps in mind."""


@dataclass(frozen=True)
class KeyedEvent(StoredEvent):
    """A stored event read together with its aggregate's wrapped data key."""

    key: KeyRow | None = None


@dataclass(frozen=True)
class KeyedNotification(Notification):
    """A notification read together with its aggregate's wrapped data key."""

    key: KeyRow | None = None


class StrongroomKeys:
    """The key source of a host application (``CIPHER_TOPIC`` names this class).

    eventsourcing constructs it from the application's environment and passes it
    to ``ShreddingMapper``; the shredding persistence modules construct it
    themselves. It is not a whole-event cipher: with any other mapper it refuses
    to encrypt rather than store plaintext.
    """

    def __init__(
        self,
        environment: Environment | Mapping[str, str] | None = None,
        *,
        database_url: str | None = None,
    ) -> None:
        store = open_store(environment, database_url=database_url)
        self.keys = KeyAPI(store)
        self.ring: KeyRing = store.keys
        self.recorder: KeyStoreRecorder = store.recorder  # type: ignore[assignment]
        self.store: Sealer = store.keys.store
        self.store_env: Mapping[str, str] = store.env
        """Where the key store is (its eventsourcing settings)."""
        self.verified_writes = False
        """True when every write goes through a recorder that checks its keys."""
        self.keys_within = False
        """True when new keys commit in the host's own transaction."""
        self._local = threading.local()
        # Keyed by originator id as stored (a UUID, or a str for text ids).
        self._sealers: dict[Any, Sealer] = {}
        self._opened: dict[Any, tuple[bytes, Sealer]] = {}
        # Aggregates this process forgot: events it read before the forget (with
        # their keys attached) open as placeholders after it, like fresh reads.
        self._forgotten: dict[Any, None] = {}

    def __repr__(self) -> str:
        return "StrongroomKeys(<keys hidden>)"

    # ------------------------------------------------------------ the mapper's side

    def key_id(self, aggregate_id: UUID | str) -> UUID:
        """The key row id of an aggregate's data key."""
        return self.ring.key_reservation_id(str(aggregate_id))

    def data_key(self, key_id: UUID) -> Sealer | None:
        """The aggregate's data key, looked up now; None once forgotten."""
        secret = self.keys.get_secret(str(key_id))
        return None if secret is None else _events_key(secret.encode())

    def sealing_key(self, domain_event: DomainEventProtocol[Any]) -> Sealer:
        """The data key to seal one of an aggregate's new events with."""
        aggregate_id = domain_event.originator_id
        pending = self._pending()
        new = pending.get(aggregate_id)
        if new is not None:
            return new[0]
        if self.verified_writes and (known := self._sealers.get(aggregate_id)):
            return known
        if (
            self.keys_within
            and domain_event.originator_version == 1
            and not isinstance(domain_event, Snapshot)
        ):
            # A new aggregate: its key is made here and written by the recorder in
            # the transaction of its first events (no query, no second commit).
            secret = _new_secret()
            sealer = _events_key(secret.encode())
            pending[aggregate_id] = (sealer, secret)
            return sealer
        try:
            secret = self.keys.get_or_create_secret(str(aggregate_id), _new_secret)
        except KeyDeletedError:
            raise _shredded(aggregate_id) from None
        sealer = _events_key(secret.encode())
        if self.verified_writes:
            self._remember(self._sealers, aggregate_id, sealer)
        return sealer

    def opening_key(self, stored_event: StoredEvent) -> Sealer | None:
        """The data key to open a stored event with; None once forgotten."""
        if not isinstance(stored_event, KeyedEvent | KeyedNotification):
            # Read by a recorder that does not attach keys: look the key up now.
            return self.data_key(stored_event.originator_id)  # type: ignore[arg-type]
        row = stored_event.key
        aggregate_id = stored_event.originator_id
        if row is None or aggregate_id in self._forgotten:
            self._sealers.pop(aggregate_id, None)
            return None
        known = self._opened.get(aggregate_id)
        if known is not None and known[0] == row.wrapped:
            return known[1]
        material = self.ring.unwrap(self.key_id(aggregate_id), row)
        sealer = _events_key(material)
        self._remember(self._opened, aggregate_id, (row.wrapped, sealer))
        if self.verified_writes:
            self._remember(self._sealers, aggregate_id, sealer)
        return sealer

    # ------------------------------------------------------------ the recorder's side

    def attach(self, stored_events: Sequence[StoredEvent]) -> list[Any]:
        """The events again, each with its aggregate's wrapped key (one query)."""
        wanted = {
            e.originator_id: self.key_id(e.originator_id)
            for e in stored_events
            if e.state[:1] == SHREDDABLE
        }
        rows = self.recorder.select_wrapped_keys(list(wanted.values()))
        found = {aggregate_id: rows.get(kid) for aggregate_id, kid in wanted.items()}
        return [keyed(e, found.get(e.originator_id)) for e in stored_events]

    def write_within(self, curs: Any, stored_events: Sequence[StoredEvent]) -> None:
        """Queue the new keys and the key checks of a save on the host's transaction."""
        new, held = self._plan(stored_events)
        if new:
            events, written = self.keys.issue_within(
                [(str(aggregate_id), secret) for aggregate_id, secret in new]
            )
            self.recorder.write_within(curs, events, **written)
        if held:
            self.recorder.hold_keys_within(curs, [self.key_id(a) for a in held])

    def write_before(self, stored_events: Sequence[StoredEvent]) -> None:
        """Store the new keys of a save, and check its other keys, ahead of it.

        For keys in another database than the events: a forget that lands between
        this check and the insert leaves the inserted events unreadable.
        """
        new, held = self._plan(stored_events)
        for aggregate_id, secret in new:
            try:
                self.keys.set_secret(str(aggregate_id), secret)
            except KeyReusedError:
                raise _shredded(aggregate_id) from None
        if held:
            wanted = {self.key_id(a): a for a in held}
            live = self.recorder.select_wrapped_keys(list(wanted))
            if gone := [a for kid, a in wanted.items() if kid not in live]:
                self.lost(gone)
                raise _shredded(gone[0])

    def saved(self, stored_events: Sequence[StoredEvent]) -> None:
        """After a commit: the save's new keys may seal its aggregates' next events."""
        pending = self._pending()
        for event in stored_events:
            new = pending.pop(event.originator_id, None)
            if new is not None:
                self._remember(self._sealers, event.originator_id, new[0])

    def failed(self, stored_events: Sequence[StoredEvent]) -> None:
        """After a failed save: its new keys were never stored."""
        pending = self._pending()
        for event in stored_events:
            pending.pop(event.originator_id, None)

    def lost(self, aggregate_ids: Iterable[UUID | str]) -> None:
        """Forget what this process knows of the keys of forgotten aggregates."""
        for given in aggregate_ids:
            for aggregate_id in (given, *_other_form(given)):
                self._sealers.pop(aggregate_id, None)
                self._opened.pop(aggregate_id, None)

    # ------------------------------------------------------------ forgetting

    def forget(self, *aggregate_ids: UUID | str) -> list[UUID | str]:
        """Shred aggregates in one transaction; returns those forgotten by this call."""
        by_key_id = {str(a): a for a in aggregate_ids}
        gone = self.keys.delete_secrets(list(by_key_id))
        forgotten = [by_key_id[key_id] for key_id in gone]
        self.lost(forgotten)
        for given in forgotten:
            for aggregate_id in (given, *_other_form(given)):
                self._remember(
                    self._forgotten, aggregate_id, None, limit=_FORGOTTEN_KEPT
                )
        return forgotten

    def encryption_for(self, aggregate_id: UUID | str) -> FieldEncryption:
        """Field-level encryption under the aggregate's key (forgotten with it)."""
        return self.keys.encryption_for(str(aggregate_id))

    def encrypt(self, plaintext: bytes) -> bytes:
        """Refuse: sealing needs the originator id, which only the mapper has."""
        del plaintext
        msg = f"StrongroomKeys needs MAPPER_TOPIC={MAPPER_TOPIC}"
        raise TypeError(msg)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Refuse, like ``encrypt``."""
        del ciphertext
        msg = f"StrongroomKeys needs MAPPER_TOPIC={MAPPER_TOPIC}"
        raise TypeError(msg)

    # ------------------------------------------------------------ helpers

    def _plan(
        self, stored_events: Sequence[StoredEvent]
    ) -> tuple[list[tuple[Any, str]], list[Any]]:
        """(aggregate id, secret) of the save's new keys, and its other sealed ids."""
        pending = self._pending()
        new: dict[Any, str] = {}
        held: dict[Any, None] = {}
        for event in stored_events:
            if event.state[:1] != SHREDDABLE:
                continue
            aggregate_id = event.originator_id
            made = pending.get(aggregate_id)
            if made is not None:
                new[aggregate_id] = made[1]
            else:
                held[aggregate_id] = None
        return list(new.items()), list(held)

    def _pending(self) -> dict[Any, tuple[Sealer, str]]:
        pending: dict[Any, tuple[Sealer, str]] | None = getattr(
            self._local, "pending", None
        )
        if pending is None:
            pending = self._local.pending = {}
        return pending

    @staticmethod
    def _remember(
        cache: dict[Any, Any],
        aggregate_id: Any,
        value: Any,
        *,
        limit: int = _CACHED_KEYS,
    ) -> None:
        if len(cache) >= limit and aggregate_id not in cache:
            cache.clear()
        cache[aggregate_id] = value


def keyed(event: StoredEvent, key: KeyRow | None) -> KeyedEvent | KeyedNotification:
    """``event`` with its aggregate's wrapped key attached."""
    cls = KeyedNotification if isinstance(event, Notification) else KeyedEvent
    return cls(**vars(event), key=key)


def _events_key(material: bytes) -> Sealer:
    return Sealer(derive(material, "events"))


def _new_secret() -> str:
    return base64.b64encode(new_key()).decode()


def _shredded(aggregate_id: object) -> AggregateShreddedError:
    msg = f"aggregate {aggregate_id} was forgotten: no new events can be sealed for it"
    return AggregateShreddedError(msg)


def _other_form(aggregate_id: UUID | str) -> tuple[UUID | str, ...]:
    """The id as a str if it is a UUID, and as a UUID if it is a str that spells one
    (caches are keyed by the originator id as stored; callers may pass either)."""
    if isinstance(aggregate_id, UUID):
        return (str(aggregate_id),)
    try:
        return (UUID(aggregate_id),)
    except ValueError:
        return ()
