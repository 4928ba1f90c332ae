"""Sealing, key wrapping and the shredding mapper, with an in-memory key store (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex

from strongroom.domain.errors import DecryptionError, MasterKeyError
from strongroom.domain.reservations import KeyReservation
from strongroom.domain.secret import Secret, Shredded
from strongroom.infrastructure.crypto import Sealer, derived_uuid, new_key
from strongroom.infrastructure.keys import KeyRing
from strongroom.infrastructure.mapper import ShreddingMapper
from strongroom.infrastructure.master_key import parse_master_key


class MemoryKeyStore:
    """The key-store side of a recorder, in a dict."""

    def __init__(self) -> None:
        self.rows: dict[UUID, bytes] = {}
        self.meta: dict[str, bytes] = {}

    def select_wrapped_keys(self, key_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        return {k: self.rows[k] for k in key_ids if k in self.rows}

    def initialise_meta(self, defaults: Mapping[str, bytes]) -> dict[str, bytes]:
        for name, value in defaults.items():
            self.meta.setdefault(name, value)
        return dict(self.meta)


def _mapper(store: MemoryKeyStore, kek: bytes) -> tuple[ShreddingMapper, KeyRing]:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    keys = KeyRing(kek, store)
    return ShreddingMapper(transcoder, keys=keys), keys


def test_sealed_bytes_open_only_with_the_same_associated_data() -> None:
    sealer = Sealer(new_key())
    sealed = sealer.seal(b"plain", b"aad-1")

    assert sealer.open(sealed, b"aad-1") == b"plain"
    with pytest.raises(DecryptionError):
        sealer.open(sealed, b"aad-2")
    assert "key" in repr(sealer)
    assert b"plain" not in sealed


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
    KeyRing(new_key(), store)
    with pytest.raises(MasterKeyError):
        KeyRing(new_key(), store)


def test_mapper_round_trips_and_seals_when_the_data_key_exists() -> None:
    store = MemoryKeyStore()
    mapper, keys = _mapper(store, new_key())
    secret = Secret.create(
        secret_id=uuid4(), at=datetime.now(UTC), name="svc", namespace=None,
        value="canary-value", actor="alice",
    )
    data_key = new_key()
    change = keys.wrap(secret.id, data_key)
    store.rows[change.key_id] = change.wrapped  # type: ignore[assignment]
    (event,) = secret.collect_events()

    stored = mapper.to_stored_event(event)
    assert b"canary-value" not in stored.state
    assert b"alice" not in stored.state
    back = mapper.to_domain_event(stored)
    assert back.value == "canary-value"

    del store.rows[secret.id]
    placeholder = mapper.to_domain_event(stored)
    assert isinstance(placeholder, Shredded)
    assert (placeholder.actor, placeholder.topic) == ("alice", Secret.Created.TOPIC)


def test_kept_events_stay_readable_when_no_data_key_exists() -> None:
    mapper, _ = _mapper(MemoryKeyStore(), new_key())
    reservation = KeyReservation.issue(
        reservation_id=uuid4(), key_id="user-42", at=datetime.now(UTC), actor=None
    )
    (event,) = reservation.collect_events()

    stored = mapper.to_stored_event(event)

    assert b"user-42" not in stored.state
    assert mapper.to_domain_event(stored).key_id == "user-42"
