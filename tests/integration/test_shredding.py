"""Crypto-shredding under the API: key rows, placeholders, authentication, atomicity."""

from __future__ import annotations

import pytest
from eventsourcing.sqlite import SQLiteApplicationRecorder

from strongroom import (
    DecryptionError,
    NameReservedError,
    SecretDeletedError,
    SecretExistsError,
    SecretRevokedError,
    SecretsManager,
)
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.stream import Shredded

from .raw import id_param, manager_on_application, query, store_application


def _key_rows(url: str) -> int:
    return query(url, "SELECT count(*) FROM strongroom_keys")[0][0]


def _event_rows(url: str) -> int:
    return query(url, "SELECT count(*) FROM strongroom_events")[0][0]


def test_create_writes_one_key_row_when_it_succeeds(
    sm: SecretsManager, store_url: str
) -> None:
    before = _key_rows(store_url)

    sm.create("svc", "v")

    assert _key_rows(store_url) == before + 1


def test_no_key_row_remains_when_the_events_fail_to_insert(
    sm: SecretsManager, store_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sm.create("first", "v")
    keys_before, events_before = _key_rows(store_url), _event_rows(store_url)

    def fail(*_: object, **__: object) -> None:
        raise RuntimeError("injected failure after the key row")

    # The key row is written first in the transaction; then the events insert fails
    # (on PostgreSQL, on the server: a save is one statement there).
    if backend == "postgres":
        query(
            store_url,
            "CREATE FUNCTION fail_insert() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected failure after the key row'; END $$",
        )
        query(
            store_url,
            "CREATE TRIGGER fail_insert BEFORE INSERT ON strongroom_events "
            "FOR EACH ROW EXECUTE FUNCTION fail_insert()",
        )
    else:
        monkeypatch.setattr(SQLiteApplicationRecorder, "_insert_events", fail)
    with pytest.raises(Exception, match="injected failure after the key row"):
        sm.create("second", "v")
    if backend == "postgres":
        query(store_url, "DROP TRIGGER fail_insert ON strongroom_events")
    monkeypatch.undo()

    assert (_key_rows(store_url), _event_rows(store_url)) == (
        keys_before,
        events_before,
    )
    assert sm.exists("second") is False
    assert sm.create("second", "v").version == 1


def test_no_key_row_remains_when_a_duplicate_create_loses(
    sm: SecretsManager, store_url: str
) -> None:
    sm.create("taken", "v")
    before = _key_rows(store_url)

    with pytest.raises(SecretExistsError):
        sm.create("taken", "other")

    assert _key_rows(store_url) == before


def test_delete_removes_the_key_row_and_leaves_placeholders(
    sm: SecretsManager, store_url: str
) -> None:
    secret = sm.create("svc", "v1", actor="alice")
    sm.update("svc", value="v2", actor="bob")
    keys = _key_rows(store_url)

    assert sm.delete("svc", actor="erin") is True

    assert _key_rows(store_url) == keys - 1
    remaining = query(
        store_url,
        "SELECT count(*) FROM strongroom_keys WHERE id = ?",
        (id_param(store_url, secret.id),),
    )
    assert remaining == [(0,)]
    with store_application(store_url) as app, app.keys.operation():
        events = list(app.events.get(secret.id))
    assert [type(e) for e in events] == [Shredded, Shredded, SecretAggregate.Deleted]
    assert [e.actor for e in events] == ["alice", "bob", "erin"]
    assert events[0].topic == SecretAggregate.Created.TOPIC
    with pytest.raises(SecretDeletedError):
        sm.reveal("svc", version=1)
    with pytest.raises(NameReservedError):
        sm.create("svc", "again")


# Reveal reads a secret's head; versions() replays its events. Tampering with either
# table must surface where that table is read, and never as a wrong value.
_READS = {
    "strongroom_events": lambda sm, name: sm.versions(name),
    "strongroom_heads": lambda sm, name: sm.reveal(name),
}
_WHERE = {
    "strongroom_events": "originator_id = ? AND originator_version = 1",
    "strongroom_heads": "id = ?",
}


@pytest.mark.parametrize("table", sorted(_READS))
def test_a_bit_flipped_state_fails_authentication_when_read(
    sm: SecretsManager, store_url: str, table: str
) -> None:
    secret = sm.create("svc", "v1")
    oid = id_param(store_url, secret.id)
    (state,) = query(
        store_url, f"SELECT state FROM {table} WHERE {_WHERE[table]}", (oid,)
    )[0]
    flipped = bytearray(state)
    flipped[-1] ^= 0x01
    query(
        store_url,
        f"UPDATE {table} SET state = ? WHERE {_WHERE[table]}",
        (bytes(flipped), oid),
    )

    with pytest.raises(DecryptionError) as caught:
        _READS[table](sm, "svc")

    assert "v1" not in str(caught.value)


@pytest.mark.parametrize("table", sorted(_READS))
def test_a_state_copied_from_another_aggregate_fails_authentication_when_read(
    sm: SecretsManager, store_url: str, table: str
) -> None:
    victim = sm.create("victim", "victim-value")
    donor = sm.create("donor", "donor-value")
    (state,) = query(
        store_url,
        f"SELECT state FROM {table} WHERE {_WHERE[table]}",
        (id_param(store_url, donor.id),),
    )[0]
    query(
        store_url,
        f"UPDATE {table} SET state = ? WHERE {_WHERE[table]}",
        (state, id_param(store_url, victim.id)),
    )

    with pytest.raises(DecryptionError):
        _READS[table](sm, "victim")
    assert sm.reveal("donor") == "donor-value"


def test_an_older_head_put_back_is_ignored_when_revealing(
    sm: SecretsManager, store_url: str
) -> None:
    secret = sm.create("svc", "v1")
    oid = id_param(store_url, secret.id)
    old = query(
        store_url, "SELECT version, state FROM strongroom_heads WHERE id = ?", (oid,)
    )[0]
    sm.update("svc", value="v2")
    sm.revoke("svc")
    query(
        store_url,
        "UPDATE strongroom_heads SET version = ?, state = ? WHERE id = ?",
        (*old, oid),
    )

    # The stream has moved on: the stale head is not trusted, the events are.
    with pytest.raises(SecretRevokedError):
        sm.reveal("svc")
    sm.reinstate("svc")
    assert sm.reveal("svc") == "v2"


def test_reveal_is_served_from_the_head_when_the_history_is_long(
    sm: SecretsManager, store_url: str
) -> None:
    sm.create("svc", "v1")
    for i in range(2, 30):
        sm.update("svc", value=f"v{i}")
    head = query(
        store_url,
        "SELECT version FROM strongroom_heads WHERE id = ?",
        (id_param(store_url, sm.get("svc").id),),
    )
    # Replaying 29 events would not read the heads table at all.
    reads = []
    with manager_on_application(store_url) as (reader, app):
        reader.get("svc")  # the name's id, read once and kept
        real = app.events.get
        app.events.get = lambda *a, **k: reads.append(a) or real(*a, **k)
        assert reader.reveal("svc") == "v29"
    assert head == [(29,)]
    assert reads == []


def test_a_key_row_copied_to_another_id_fails_to_unwrap(
    sm: SecretsManager, store_url: str
) -> None:
    a = sm.create("a", "value-a")
    b = sm.create("b", "value-b")
    (wrapped,) = query(
        store_url,
        "SELECT wrapped FROM strongroom_keys WHERE id = ?",
        (id_param(store_url, a.id),),
    )[0]
    query(
        store_url,
        "UPDATE strongroom_keys SET wrapped = ? WHERE id = ?",
        (wrapped, id_param(store_url, b.id)),
    )

    with pytest.raises(DecryptionError):
        sm.reveal("b")


def test_another_manager_never_serves_a_deleted_key_from_memory(store_url: str) -> None:
    from tests.conftest import MASTER_KEY

    with (
        SecretsManager.open(store_url, master_key=MASTER_KEY) as first,
        manager_on_application(store_url) as (second, app),
    ):
        created = first.create("svc", "v")
        assert second.reveal("svc") == "v"
        first.delete("svc")
        with app.keys.operation():
            assert app.keys.data_key(created.id) is None
