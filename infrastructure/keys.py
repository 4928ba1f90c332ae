"""The key ring: the master key (KEK), the store key and per-aggregate data keys.

Data keys are read from the key table on demand. The only cache is scoped to one
operation of one thread (``operation()``), so a key destroyed by another process is
never served from memory to a later operation.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from uuid import UUID

from strongroom.domain.errors import DecryptionError, MasterKeyError
from strongroom.infrastructure.crypto import (
    Sealer,
    derive,
    derived_uuid,
    key_fingerprint,
    new_key,
)
from strongroom.infrastructure.recorders import KeyChange, KeyStoreRecorder

_STORE_KEY_AAD = b"strongroom/store-key"
_KEY_AAD = b"strongroom/key/"


class KeyRing:
    """Wraps, unwraps and looks up keys for one store."""

    def __init__(self, master_key: bytes, recorder: KeyStoreRecorder) -> None:
        kek = Sealer(master_key)
        fingerprint = key_fingerprint(master_key)
        meta = recorder.initialise_meta(
            {"kek_id": fingerprint, "store_key": kek.seal(new_key(), _STORE_KEY_AAD)}
        )
        if not hmac.compare_digest(meta["kek_id"], fingerprint):
            msg = "this store was created with a different master key"
            raise MasterKeyError(msg)
        try:
            store_key = kek.open(meta["store_key"], _STORE_KEY_AAD)
        except DecryptionError:
            msg = "the store key could not be unwrapped with this master key"
            raise MasterKeyError(msg) from None
        self._kek = kek
        self._recorder = recorder
        self.store = Sealer(store_key)
        self._ids_key = derive(store_key, "reservation-ids")
        self._local = threading.local()

    def __repr__(self) -> str:
        return "KeyRing(<keys hidden>)"

    # ----------------------------------------------------------- stream ids

    def name_reservation_id(self, namespace: str | None, name: str) -> UUID:
        """The reservation stream id of a secret's address."""
        return derived_uuid(self._ids_key, "name", namespace or "", name)

    def key_reservation_id(self, key_id: str) -> UUID:
        """The reservation stream id of an aggregate key id."""
        return derived_uuid(self._ids_key, "key", key_id)

    # ------------------------------------------------------- wrapping

    def wrap(self, key_id: UUID, material: bytes) -> KeyChange:
        """A key-table insert of ``material`` wrapped under the master key."""
        return KeyChange(key_id, self._kek.seal(material, _KEY_AAD + key_id.bytes))

    def unwrap(self, key_id: UUID, wrapped: bytes) -> bytes:
        """Key material of a key row (DecryptionError if the row was tampered with)."""
        return self._kek.open(wrapped, _KEY_AAD + key_id.bytes)

    def fetch(self, key_ids: Iterable[UUID]) -> dict[UUID, bytes]:
        """Key material of the given ids that have a live key row."""
        rows = self._recorder.select_wrapped_keys(list(key_ids))
        return {key_id: self.unwrap(key_id, wrapped) for key_id, wrapped in rows.items()}

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

    def data_key(self, key_id: UUID) -> Sealer | None:
        """The data key of an aggregate, or None once it has been shredded."""
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

    def forget(self, key_id: UUID) -> None:
        """Drop a key from this thread's cache (after shredding it)."""
        cache = getattr(self._local, "cache", None)
        if cache is not None:
            cache.pop(key_id, None)

    def _pending(self) -> dict[UUID, Sealer]:
        pending: dict[UUID, Sealer] | None = getattr(self._local, "pending", None)
        if pending is None:
            pending = self._local.pending = {}
        return pending
