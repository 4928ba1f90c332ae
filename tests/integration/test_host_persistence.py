"""The shredding persistence modules: how many queries and transactions a host
application's reads and writes cost, and that no cache outlives a forget.

Counted, never timed: every statement any connection of this process sends.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from strongroom import AggregateShreddedError, SecretsManager, ValidationError
from strongroom.services.keys import KeyAPI
from strongroom.shredding import Shredded, close_key_stores, forget, keys_of
from tests.conftest import MASTER_KEY
from tests.integration import hosts
from tests.integration.raw import counted_statements, id_param, query


class Account(Aggregate):
    """Personal data in every event."""

    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0

    @event("Credited")
    def credit(self, amount: int) -> None:
        self.balance += amount


class Bank(Application[UUID]):
    """A host application (its PostgreSQL table: ``bank_events``)."""


@pytest.fixture(params=["same_database", "separate_database"])
def configuration(request: pytest.FixtureRequest) -> str:
    """Where the shredding module keeps the keys."""
    return str(request.param)


@pytest.fixture
def host_env(
    backend: str, configuration: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[dict[str, str]]:
    """A host environment under a shredding persistence module."""
    yield hosts.host_env(backend, configuration, tmp_path, request)
    close_key_stores()


@pytest.fixture
def bank(host_env: dict[str, str]) -> Iterator[Bank]:
    app = Bank(env=host_env)
    yield app
    app.close()


def account(events: int) -> Account:
    opened = Account(owner="Ada Lovelace")
    for amount in range(events - 1):
        opened.credit(amount)
    return opened


def key_ids_issued(env: dict[str, str]) -> int:
    with SecretsManager.open(hosts.keys_url(env), master_key=MASTER_KEY) as sm:
        return sm.keys.describe().secret_count


# ------------------------------------------------------------------ reads


def test_get_reads_events_and_their_key_in_at_most_two_queries_when_100_events(
    bank: Bank,
    backend: str,
    configuration: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved = account(100)
    bank.save(saved)
    bank.repository.get(saved.id)  # connections made, statements prepared

    with counted_statements(monkeypatch) as sent:
        got = bank.repository.get(saved.id)

    assert got.balance == sum(range(99))
    # One query with the key joined where the keys share the database, else two.
    expected = 1 if (backend, configuration) == ("postgres", "same_database") else 2
    assert len(sent) == expected, sent


def test_notification_page_reads_its_keys_in_one_query_when_it_spans_aggregates(
    bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank.save(*(account(1) for _ in range(10)))

    with counted_statements(monkeypatch) as sent:
        page = bank.notification_log.select(start=1, limit=10)
        opened = [bank.mapper.to_domain_event(n) for n in page]

    assert [type(e).__name__ for e in opened] == ["Opened"] * 10
    assert len(sent) == 2, sent


# ------------------------------------------------------------------ writes


def test_first_save_leaves_no_key_when_its_events_fail_when_keys_share_the_database(
    bank: Bank, host_env: dict[str, str], backend: str, configuration: str
) -> None:
    new = account(2)
    # Another writer took the new aggregate's second position: the save must fail.
    table = "stored_events" if backend == "sqlite" else "bank_events"
    own = hosts.own_url(host_env)
    query(
        own,
        f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
        "VALUES (?, 2, 'x', ?)",
        (id_param(own, new.id), b"x"),
    )
    before = key_ids_issued(host_env)

    with pytest.raises(IntegrityError):
        bank.save(new)

    # With the keys in the app's database the key commits with the events, or not
    # at all; elsewhere it is stored first, and a failed save leaves it behind.
    orphans = 0 if configuration == "same_database" else 1
    assert key_ids_issued(host_env) == before + orphans


@pytest.mark.parametrize("configuration", ["same_database"])
def test_first_save_writes_its_key_in_its_own_transaction_when_keys_share_the_database(
    bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a key was written outside the save's transaction")

    monkeypatch.setattr(KeyAPI, "set_secret", refuse)
    monkeypatch.setattr(KeyAPI, "get_or_create_secret", refuse)
    new = account(10)
    bank.save(new)
    assert bank.repository.get(new.id).balance == sum(range(9))


def test_forget_shreds_every_given_aggregate_and_returns_those_it_forgot(
    bank: Bank,
) -> None:
    ada, bob, kept = account(3), account(2), account(1)
    bank.save(ada, bob, kept)
    never_saved = uuid4()

    assert forget(bank, ada.id, bob.id, never_saved, ada.id) == [ada.id, bob.id]

    for gone in (ada.id, bob.id):
        with pytest.raises(AggregateShreddedError):
            bank.repository.get(gone)
    assert bank.repository.get(kept.id).owner == "Ada Lovelace"
    assert forget(bank, ada.id, str(bob.id)) == []


# ------------------------------------------------------------------ two processes


def _forget_in_another_process(env: dict[str, str], aggregate_id: str) -> None:
    app = Bank(env=env)
    try:
        forgotten = forget(app, UUID(aggregate_id))
        assert forgotten == [UUID(aggregate_id)]
    finally:
        app.close()
        close_key_stores()


def test_reads_and_writes_see_a_forget_when_another_process_made_it(
    bank: Bank, host_env: dict[str, str]
) -> None:
    saved = account(5)
    bank.save(saved)
    held = bank.repository.get(saved.id)  # its key now cached by this process
    held.credit(1)
    bank.save(held)
    assert bank.repository.get(saved.id).version == 6

    child = multiprocessing.get_context("spawn").Process(
        target=_forget_in_another_process, args=(host_env, str(saved.id))
    )
    child.start()
    child.join(120)
    assert child.exitcode == 0

    with pytest.raises(AggregateShreddedError):
        bank.repository.get(saved.id)
    assert all(isinstance(e, Shredded) for e in bank.events.get(saved.id))
    held.credit(1)
    with pytest.raises(AggregateShreddedError):
        bank.save(held)
    # Refused, not sealed under the destroyed key: the stream ends where it was.
    assert [e.originator_version for e in bank.events.get(saved.id)][-1] == 6


# ------------------------------------------------------------------ configuration


def test_module_keeps_keys_in_the_applications_database_when_no_url_is_given(
    bank: Bank, configuration: str
) -> None:
    keys = keys_of(bank)
    assert keys.keys_within is (configuration == "same_database")
    assert bank.factory.same_database is (configuration == "same_database")  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", ["postgres"])
def test_module_sees_its_own_database_when_the_url_names_it(
    host_env: dict[str, str], configuration: str
) -> None:
    env = {**host_env, "STRONGROOM_DATABASE_URL": hosts.own_url(host_env)}
    app = Bank(env=env)
    try:
        assert app.factory.same_database is True  # type: ignore[attr-defined]
        assert keys_of(app).keys_within is True
    finally:
        app.close()
    del configuration


def test_sqlite_module_asks_for_a_key_store_when_the_database_is_in_memory() -> None:
    env = {
        "PERSISTENCE_MODULE": "strongroom.shredding.sqlite",
        "SQLITE_DBNAME": ":memory:",
    }
    with pytest.raises(OSError, match="STRONGROOM_DATABASE_URL"):
        Bank(env=env)


# ------------------------------------------------------------------ the key API under it


def test_delete_secrets_destroys_several_ids_at_once_when_some_were_never_set(
    sm: SecretsManager,
) -> None:
    for key_id in ("ada", "bob", "cy"):
        sm.keys.set_secret(key_id, f"key-of-{key_id}")
    sm.keys.delete_secret("cy")

    assert sm.keys.delete_secrets(["bob", "nobody", "cy", "ada", "bob"]) == [
        "bob",
        "ada",
    ]

    assert sm.keys.get_secret("ada") is None
    assert sm.keys.get_secret("bob") is None
    assert sm.keys.describe().deleted_secret_count == 3
    assert sm.keys.delete_secrets(["ada", "bob"]) == []


@pytest.mark.parametrize("given", ["ada", ["ada", ""], ["ada", "x\x00"]])
def test_delete_secrets_refuses_bad_ids_and_destroys_nothing_when_one_is_bad(
    sm: SecretsManager, given: Any
) -> None:
    sm.keys.set_secret("ada", "key-of-ada")

    with pytest.raises(ValidationError):
        sm.keys.delete_secrets(given)

    assert sm.keys.get_secret("ada") == "key-of-ada"


def test_an_older_store_gains_the_key_holding_function_when_reopened(
    postgres_url: str,
) -> None:
    with SecretsManager.open(postgres_url, master_key=MASTER_KEY):
        pass
    # A store made before host writes held their keys: no function, older marks.
    query(postgres_url, "DROP FUNCTION strongroom_keys_hold(uuid[])")
    query(
        postgres_url,
        "UPDATE strongroom_meta SET value = ? WHERE starts_with(name, 'schema:')",
        (b"6",),
    )

    with SecretsManager.open(postgres_url, master_key=MASTER_KEY):
        pass

    (present,) = query(
        postgres_url, "SELECT to_regprocedure('strongroom_keys_hold(uuid[])')"
    )
    assert present[0] is not None
