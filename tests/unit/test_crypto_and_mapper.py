"""Sealing, key wrapping and the shredding mapper, with an in-memory key store (no I/O)."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex

from strongroom.domain.errors import DecryptionError, MasterKeyError
from strongroom.domain.reservations import KeyReservation
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.stream import Head, Shredded
from strongroom.infrastructure.crypto import (
    Sealer,
    derived_uuid,
    new_id,
    new_key,
    random_bytes,
)
from strongroom.infrastructure.keys import KeyRing
from strongroom.infrastructure.mapper import ShreddingMapper
from strongroom.infrastructure.master_key import RawKeyProvider, parse_master_key
from strongroom.infrastructure.recorders import KeyChange, KeyRow


class MemoryKeyStore:
    """The key-store side of a recorder, in dicts (what the key ring uses of it)."""

    def __init__(self) -> None:
        self.rows: dict[UUID, KeyRow] = {}
        self.keks: set[str] = set()

    def select_wrapped_keys(self, key_ids: Sequence[UUID]) -> dict[UUID, KeyRow]:
        return {k: self.rows[k] for k in key_ids if k in self.rows}

    def initialise_store(
        self, store_key: KeyChange, available: Iterable[str]
    ) -> tuple[KeyRow, set[str]]:
        assert store_key.wrapped is not None
        assert store_key.kek is not None
        found = self.rows.setdefault(
            store_key.key_id, KeyRow(store_key.wrapped, store_key.kek)
        )
        if found.kek in set(available) and self.keks <= set(available):
            self.keks.add(store_key.kek)
        return found, set(self.keks)

    def insert(self, change: KeyChange) -> None:
        assert change.wrapped is not None
        assert change.kek is not None
        self.rows[change.key_id] = KeyRow(change.wrapped, change.kek)

    def register_kek(self, kek: str) -> None:
        self.keks.add(kek)

    def select_keks(self) -> set[str]:
        return set(self.keks)

    def select_keys_wrapped_by(
        self, kek: str, *, after: UUID | None, limit: int
    ) -> list[tuple[UUID, bytes]]:
        ids = sorted(k for k, row in self.rows.items() if row.kek == kek)
        ids = [k for k in ids if after is None or k > after]
        return [(k, self.rows[k].wrapped) for k in ids[:limit]]

    def rewrap_keys(self, rows: Sequence[tuple[UUID, str, bytes, str]]) -> int:
        changed = 0
        for key_id, old, wrapped, new in rows:
            if key_id in self.rows and self.rows[key_id].kek == old:
                self.rows[key_id] = KeyRow(wrapped, new)
                changed += 1
        return changed

    def count_keys_by_kek(self) -> dict[str, int]:
        return dict(Counter(row.kek for row in self.rows.values()))

    def retire_kek(self, kek: str) -> bool:
        if kek in self.keks and kek not in self.count_keys_by_kek():
            self.keks.discard(kek)
            return True
        return False


def _mapper(store: MemoryKeyStore, kek: bytes) -> tuple[ShreddingMapper, KeyRing]:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    keys = KeyRing(RawKeyProvider(kek), store)  # type: ignore[arg-type]
    return ShreddingMapper(transcoder, keys=keys), keys


def test_sealed_bytes_open_only_with_the_same_associated_data() -> None:
    sealer = Sealer(new_key())
    sealed = sealer.seal(b"plain", b"aad-1")

    assert sealer.open(sealed, b"aad-1") == b"plain"
    with pytest.raises(DecryptionError):
        sealer.open(sealed, b"aad-2")
    assert "key" in repr(sealer)
    assert b"plain" not in sealed
    assert sealer.seal(b"plain", b"aad-1") != sealed


def test_derived_ids_depend_on_the_key_when_derived() -> None:
    a, b = new_key(), new_key()
    assert derived_uuid(a, "name", "", "x") == derived_uuid(a, "name", "", "x")
    assert derived_uuid(a, "name", "", "x") != derived_uuid(b, "name", "", "x")
    assert derived_uuid(a, "name", "ns", "x") != derived_uuid(a, "name", "", "nsx")


def test_master_keys_are_parsed_from_raw_or_base64_when_given() -> None:
    key = new_key()
    import base64

    assert parse_master_key(key) == key
    assert parse_master_key(base64.b64encode(key).decode()) == key
    with pytest.raises(MasterKeyError):
        parse_master_key(b"\x01" * 16)


def test_a_second_master_key_is_refused_when_the_store_has_one() -> None:
    store = MemoryKeyStore()
    KeyRing(RawKeyProvider(new_key()), store)  # type: ignore[arg-type]
    with pytest.raises(MasterKeyError, match="different master key"):
        KeyRing(RawKeyProvider(new_key()), store)  # type: ignore[arg-type]
    assert len(store.keks) == 1


def test_mapper_round_trips_and_seals_when_the_data_key_exists() -> None:
    store = MemoryKeyStore()
    mapper, keys = _mapper(store, new_key())
    secret = SecretAggregate.create(
        secret_id=uuid4(),
        at=datetime.now(UTC),
        name="svc",
        namespace=None,
        value="canary-value",
        actor="alice",
    )
    data_key = new_key()
    store.insert(keys.wrap(secret.id, data_key))
    (event,) = secret.collect_events()

    stored = mapper.to_stored_event(event)
    assert b"canary-value" not in stored.state
    assert b"alice" not in stored.state
    back = mapper.to_domain_event(stored)
    assert back.value == "canary-value"

    del store.rows[secret.id]
    placeholder = mapper.to_domain_event(stored)
    assert isinstance(placeholder, Shredded)
    assert (placeholder.actor, placeholder.topic) == (
        "alice",
        SecretAggregate.Created.TOPIC,
    )


def test_kept_events_stay_readable_when_no_data_key_exists() -> None:
    mapper, _ = _mapper(MemoryKeyStore(), new_key())
    reservation = KeyReservation.issue(
        reservation_id=uuid4(), key_id="user-42", at=datetime.now(UTC), actor=None
    )
    (event,) = reservation.collect_events()

    stored = mapper.to_stored_event(event)

    assert b"user-42" not in stored.state
    assert mapper.to_domain_event(stored).key_id == "user-42"


def test_random_bytes_never_repeat_when_drawn_from_many_threads() -> None:
    drawn: list[bytes] = []
    lock = threading.Lock()

    def draw() -> None:
        mine = [random_bytes(12) for _ in range(2_000)]
        with lock:
            drawn.extend(mine)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(drawn)) == len(drawn) == 8_000
    assert len({new_id() for _ in range(1_000)}) == 1_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_draws_other_bytes_when_the_parent_has_bytes_buffered() -> None:
    random_bytes(1)  # the parent now holds a buffer the child inherits
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, random_bytes(32))
        os._exit(0)
    os.close(write)
    child = os.read(read, 32)
    os.close(read)
    os.waitpid(pid, 0)

    assert len(child) == 32
    assert child != random_bytes(32)


def test_heads_round_trip_as_json_under_the_data_key_when_sealed() -> None:
    store = MemoryKeyStore()
    mapper, keys = _mapper(store, new_key())
    expiry = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    secret = SecretAggregate.create(
        secret_id=uuid4(),
        at=datetime.now(UTC),
        name="svc",
        namespace="team",
        value={"password": "canary-value"},
        actor="alice",
        expires_at=expiry,
        tags={"tier": "gold"},
    )
    store.insert(keys.wrap(secret.id, new_key()))
    head = Head.of(secret)

    sealed = mapper.seal_head(head)
    assert b"canary-value" not in sealed
    assert b"svc" not in sealed
    back = mapper.open_head(secret.id, secret.version, sealed)
    assert back is not None
    loaded = back.mutate(None)
    assert (loaded.value, loaded.expires_at, loaded.tags) == (
        {"password": "canary-value"},
        expiry,
        {"tier": "gold"},
    )
    assert loaded.modified_on == secret.modified_on
    # Bound to its position: the same bytes at another version fail to open.
    with pytest.raises(DecryptionError):
        mapper.open_head(secret.id, secret.version + 1, sealed)
    del store.rows[secret.id]
    assert mapper.open_head(secret.id, secret.version, sealed) is None
