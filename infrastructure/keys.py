"""The key ring: master keys (KEKs), the store key and per-aggregate data keys.

Data keys are read from the key table on demand. The only cache is scoped to one
operation of one thread (``operation()``), so a key destroyed by another process is
never served from memory to a later operation.

Every key row names the master key that wrapped it. A store normally has one; while
a rotation is unfinished it has two, and is opened with both (the new one current,
the old one previous). ``rotate()`` re-wraps key rows without touching an event.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from strongroom.domain.errors import DecryptionError, MasterKeyError
from strongroom.domain.results import Rotation
from strongroom.infrastructure.crypto import Sealer, derive, derived_uuid, new_key
from strongroom.infrastructure.master_key import MasterKeyProvider
from strongroom.infrastructure.recorders import (
    STORE_KEY_ID,
    KeyChange,
    KeyRow,
    KeyStoreRecorder,
)

if TYPE_CHECKING:
    from eventsourcing.domain import DomainEventProtocol
    from eventsourcing.persistence import StoredEvent

_KEY_AAD = b"strongroom/key/"
ROTATION_BATCH = 1000
_UNWRAPPED_LIMIT = 4096
"""Unwrapped data keys kept (each checked against its stored row on every use)."""

Progress = Callable[[int, int], None]
"""Called with (keys re-wrapped so far, keys to re-wrap in all)."""


def _aad(key_id: UUID) -> bytes:
    return _KEY_AAD + key_id.bytes


class KeyRing:
    """Wraps, unwraps and looks up keys for one store."""

    def __init__(
        self,
        master: MasterKeyProvider,
        recorder: KeyStoreRecorder,
        *,
        previous: Sequence[MasterKeyProvider] = (),
    ) -> None:
        providers = {p.key_id: p for p in previous}
        providers[master.key_id] = master
        proposed = KeyChange(
            STORE_KEY_ID, master.wrap(new_key(), _aad(STORE_KEY_ID)), master.key_id
        )
        row, in_use = recorder.initialise_store(proposed, providers)
        if not in_use & providers.keys():
            msg = "this store was created with a different master key"
            raise MasterKeyError(msg)
        missing = sorted(in_use - providers.keys())
        if missing or row.kek not in providers:
            msg = (
                "this store's keys are partly wrapped under another master key "
                f"({', '.join(missing)}): a master-key rotation is unfinished; open "
                "it with the new key as STRONGROOM_MASTER_KEY and the old one as "
                "STRONGROOM_MASTER_KEY_PREVIOUS, and run rotate-master-key"
            )
            raise MasterKeyError(msg)
        try:
            store_key = providers[row.kek].unwrap(row.wrapped, _aad(STORE_KEY_ID))
        except DecryptionError:
            msg = "the store key could not be unwrapped with this master key"
            raise MasterKeyError(msg) from None
        self._master = master
        self._providers = providers
        self._recorder = recorder
        self.store = Sealer(store_key)
        self._ids_key = derive(store_key, "reservation-ids")
        self._local = threading.local()
        self._unwrapped_keys: dict[UUID, tuple[bytes, Sealer]] = {}

    def __repr__(self) -> str:
        return f"KeyRing(master_key_id={self._master.key_id!r})"

    @property
    def master_key_id(self) -> str:
        """The id of the master key new keys are wrapped under."""
        return self._master.key_id

    # ----------------------------------------------------------- stream ids

    def name_reservation_id(self, namespace: str | None, name: str) -> UUID:
        """The reservation stream id of a secret's address."""
        return derived_uuid(self._ids_key, "name", namespace or "", name)

    def request_receipt_id(self, request_id: str) -> UUID:
        """The receipt stream id of a client's request id."""
        return derived_uuid(self._ids_key, "request", request_id)

    def fingerprint(self, *parts: object) -> str:
        """A keyed digest of a request's arguments (reveals nothing without the key)."""
        text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
        return hmac.digest(self._ids_key, text.encode(), "sha256").hex()

    def key_reservation_id(self, key_id: str) -> UUID:
        """The reservation stream id of an aggregate key id."""
        return derived_uuid(self._ids_key, "key", key_id)

    # ------------------------------------------------------- wrapping

    def wrap(self, key_id: UUID, material: bytes) -> KeyChange:
        """A key-table insert of ``material`` wrapped under the current master key."""
        master = self._master
        return KeyChange(key_id, master.wrap(material, _aad(key_id)), master.key_id)

    def unwrap(self, key_id: UUID, row: KeyRow) -> bytes:
        """Key material of a key row (DecryptionError if the row was tampered with)."""
        provider = self._providers.get(row.kek)
        if provider is None:
            msg = (
                f"a key is wrapped under master key {row.kek!r}, which this process "
                "was not given (an unfinished or later rotation?)"
            )
            raise MasterKeyError(msg)
        return provider.unwrap(row.wrapped, _aad(key_id))

    def fetch(self, key_ids: Iterable[UUID]) -> dict[UUID, bytes]:
        """Key material of the given ids that have a live key row."""
        rows = self._recorder.select_wrapped_keys(list(key_ids))
        return {key_id: self.unwrap(key_id, row) for key_id, row in rows.items()}

    # ------------------------------------------------------- data keys

    @contextmanager
    def operation(self) -> Iterator[None]:
        """Scope of the per-thread data-key cache (nested scopes share the outer one)."""
        if getattr(self._local, "cache", None) is not None:
            yield
            return
        self._local.cache = {}
        try:
            yield
        finally:
            self._local.cache = None

    @contextmanager
    def staged(self, key_id: UUID, data_key: bytes) -> Iterator[None]:
        """Make a not-yet-stored data key visible to this thread's sealing."""
        pending = self._pending()
        pending[key_id] = Sealer(data_key)
        try:
            yield
        finally:
            pending.pop(key_id, None)

    def prefetch(self, key_ids: Iterable[UUID]) -> None:
        """Load many data keys in one query into the current operation's cache."""
        cache = getattr(self._local, "cache", None)
        if cache is None:
            return
        wanted = [k for k in set(key_ids) if k not in cache]
        found = self.fetch(wanted)
        for key_id in wanted:
            material = found.get(key_id)
            cache[key_id] = None if material is None else Sealer(material)

    def preload(self, key_id: UUID, row: KeyRow | None) -> None:
        """Put a key row read with other data into the current operation's cache."""
        cache = getattr(self._local, "cache", None)
        if cache is not None:
            cache[key_id] = None if row is None else self._unwrapped(key_id, row)

    def _unwrapped(self, key_id: UUID, row: KeyRow) -> Sealer:
        # Unwrapping is a third of a point read's CPU. The sealer is reused only for
        # the very wrapped key just read from the store in the caller's query, so a
        # deleted (or re-wrapped) key is never served from here.
        known = self._unwrapped_keys.get(key_id)
        if known is not None and known[0] == row.wrapped:
            return known[1]
        sealer = Sealer(self.unwrap(key_id, row))
        if len(self._unwrapped_keys) >= _UNWRAPPED_LIMIT:
            self._unwrapped_keys.clear()
        self._unwrapped_keys[key_id] = (row.wrapped, sealer)
        return sealer

    def data_key(self, key_id: UUID) -> Sealer | None:
        """The data key of an aggregate, or None once it has been shredded.

        strongroom's own data keys are created with their aggregate (``staged``),
        never on demand.
        """
        pending = self._pending()
        if key_id in pending:
            return pending[key_id]
        cache = getattr(self._local, "cache", None)
        if cache is not None and key_id in cache:
            return cache[key_id]  # type: ignore[no-any-return]
        material = self.fetch([key_id]).get(key_id)
        sealer = None if material is None else Sealer(material)
        if cache is not None:
            cache[key_id] = sealer
        return sealer

    def sealing_key(self, domain_event: DomainEventProtocol[Any]) -> Sealer | None:
        """The data key to seal one of the aggregate's events with."""
        return self.data_key(cast(UUID, domain_event.originator_id))

    def opening_key(self, stored_event: StoredEvent) -> Sealer | None:
        """The data key to open one of the aggregate's stored events with."""
        return self.data_key(cast(UUID, stored_event.originator_id))

    def forget(self, key_id: UUID) -> None:
        """Drop a key from this process's caches (after shredding it)."""
        self._unwrapped_keys.pop(key_id, None)
        cache = getattr(self._local, "cache", None)
        if cache is not None:
            cache.pop(key_id, None)

    def _pending(self) -> dict[UUID, Sealer]:
        pending: dict[UUID, Sealer] | None = getattr(self._local, "pending", None)
        if pending is None:
            pending = self._local.pending = {}
        return pending

    # ------------------------------------------------------- rotation

    def rotate(
        self,
        new: MasterKeyProvider | None = None,
        *,
        batch_size: int = ROTATION_BATCH,
        progress: Progress | None = None,
    ) -> Rotation:
        """Re-wrap every key row under ``new`` (default: the current master key).

        Resumable: an interrupted rotation leaves every row readable under the old
        or the new key, and running it again finishes the job. Events are never read.
        """
        recorder = self._recorder
        if new is not None and new.key_id != self._master.key_id:
            recorder.register_kek(new.key_id)
            self._providers[new.key_id] = new
            self._master = new
        target = self._master
        done = 0
        # Rows written meanwhile by processes still on an old key are caught by the
        # next pass; the old key is retired only once a pass finds nothing.
        for _ in range(100):
            counts = recorder.count_keys_by_kek()
            total = done + sum(n for kek, n in counts.items() if kek != target.key_id)
            if progress is not None:
                progress(done, total)
            if total == done:
                break
            for kek in sorted(counts.keys() - {target.key_id}):
                for moved in self._rewrap_batches(kek, target, batch_size):
                    done += moved
                    if progress is not None:
                        progress(done, total)
        else:
            msg = "keys kept appearing under an old master key; rotation gave up"
            raise MasterKeyError(msg)
        retired = tuple(
            kek
            for kek in sorted(recorder.select_keks() - {target.key_id})
            if recorder.retire_kek(kek)
        )
        return Rotation(master_key_id=target.key_id, rewrapped=done, retired=retired)

    def _rewrap_batches(
        self, kek: str, target: MasterKeyProvider, batch_size: int
    ) -> Iterator[int]:
        """Re-wrap the rows under ``kek``, a batch per step; yields rows changed."""
        after: UUID | None = None
        while rows := self._recorder.select_keys_wrapped_by(
            kek, after=after, limit=batch_size
        ):
            yield self._recorder.rewrap_keys(
                [
                    (
                        key_id,
                        kek,
                        target.wrap(
                            self.unwrap(key_id, KeyRow(wrapped, kek)), _aad(key_id)
                        ),
                        target.key_id,
                    )
                    for key_id, wrapped in rows
                ]
            )
            after = rows[-1][0]
