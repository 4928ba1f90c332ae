"""Races across processes, exactly-once projections and rebuilds, on both backends."""

from __future__ import annotations

import json
import logging
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from strongroom import SecretExistsError, SecretsManager, StrongroomError
from tests.conftest import MASTER_KEY
from tests.integration.processes import race

from .raw import manager_on_application, store_application


def _create_in_process(url: str, value: str, start: Any, results: Any) -> None:
    with SecretsManager.open(url, master_key=MASTER_KEY) as sm:
        start.wait(60)
        try:
            sm.create("contested", value)
            results.put(("won", value))
        except SecretExistsError:
            results.put(("lost", value))
        except StrongroomError as exc:
            results.put(("error", type(exc).__name__))


def test_exactly_one_process_wins_when_two_processes_create_one_name(
    store_url: str,
) -> None:
    outcomes = race(_create_in_process, [(store_url, f"v{i}") for i in range(2)])

    assert sorted(kind for kind, _ in outcomes) == ["lost", "won"]
    (winner,) = [value for kind, value in outcomes if kind == "won"]
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        assert sm.reveal("contested") == winner
        assert [v.version for v in sm.versions("contested")] == [1]


def _snapshot(sm: SecretsManager) -> tuple[Any, ...]:
    def rows(**filters: Any) -> list[Any]:
        out, cursor = [], None
        while True:
            page = sm.list(limit=7, cursor=cursor, **filters)
            out += page.items
            cursor = page.next_cursor
            if cursor is None:
                return out

    return (
        rows(),
        rows(status="deleted"),
        rows(status="revoked"),
        sm.stats(),
        sm.stats(namespace="team-a"),
        list(sm.audit()),
    )


def _activity(sm: SecretsManager) -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    for i in range(12):
        sm.create(f"s{i:02d}", f"v{i}", namespace="team-a" if i % 3 else None)
    sm.update("s01", namespace="team-a", value="new", tags={"k": "v"})
    sm.update("s02", namespace="team-a", expires_at=past)
    sm.revoke("s04", namespace="team-a")
    sm.patch("cfg", {"a": 1})
    sm.rollback("s01", 1, namespace="team-a")
    sm.delete("s00")
    sm.delete("s05", namespace="team-a")


def test_rebuild_reproduces_listing_stats_and_audit_when_secrets_were_shredded(
    sm: SecretsManager,
) -> None:
    _activity(sm)
    before = _snapshot(sm)

    sm.rebuild_projections()

    assert _snapshot(sm) == before
    assert before[3].deleted == 2
    assert [e.action for e in before[5]][:2] == ["created", "created"]


def test_concurrent_catch_up_applies_each_event_once_when_managers_race(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as writer:
        _activity(writer)
        expected = writer.stats()
    with store_application(store_url) as app:
        # Forget how far the projection got: every manager below catches up at once.
        app.views[0].reset("strongroom")
    managers = [SecretsManager.open(store_url, master_key=MASTER_KEY) for _ in range(4)]
    try:
        barrier = threading.Barrier(len(managers))
        seen: list[Any] = []

        def read(manager: SecretsManager) -> None:
            barrier.wait(30)
            seen.append(manager.stats())

        threads = [threading.Thread(target=read, args=(m,)) for m in managers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert seen == [expected] * len(managers)
        assert len(list(managers[0].audit())) == len(list(managers[1].audit()))
    finally:
        for manager in managers:
            manager.close()


def test_racing_catch_ups_finish_when_each_loses_many_batches_but_others_progress(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found under load with two server workers: a catch-up that lost more races
    # than the retry limit failed although the other process kept progressing.
    monkeypatch.setattr("strongroom.projections.runner.MAX_CLAIM_RETRIES", 1)
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as writer:
        writer.import_secrets(
            json.dumps({"name": f"s{i}", "value": "v"}) for i in range(2600)
        )
        expected = writer.stats()
    with store_application(store_url) as app:
        app.views[0].reset("strongroom")
    managers = [SecretsManager.open(store_url, master_key=MASTER_KEY) for _ in range(4)]
    try:
        barrier = threading.Barrier(len(managers))
        seen: list[Any] = []
        failed: list[BaseException] = []

        def read(manager: SecretsManager) -> None:
            barrier.wait(30)
            try:
                seen.append(manager.stats())
            except BaseException as exc:
                failed.append(exc)

        threads = [threading.Thread(target=read, args=(m,)) for m in managers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert failed == []
        assert seen == [expected] * len(managers)
    finally:
        for manager in managers:
            manager.close()


def test_no_plaintext_reaches_a_log_record_when_logging_everything(
    sm: SecretsManager, caplog: pytest.LogCaptureFixture
) -> None:
    canary = f"canary-{secrets.token_hex(8)}"
    with caplog.at_level(logging.DEBUG):
        sm.create("svc", canary)
        sm.update("svc", value={"inner": canary + "-2"})
        sm.reveal("svc")
        sm.list()
        sm.keys.set_secret("agg", canary + "-key")
        sm.delete("svc")

    assert canary not in caplog.text
    assert MASTER_KEY.hex() not in caplog.text


def test_reopening_a_postgres_store_runs_no_ddl_when_its_schema_is_marked_done(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from strongroom.infrastructure.recorders import PostgresKeyStoreRecorder
    from strongroom.projections.postgres import PostgresSecretsView

    with SecretsManager.open(postgres_url, master_key=MASTER_KEY) as sm:
        sm.create("a", "v")

    def no_ddl(*_: object) -> None:
        # DDL on a live store takes table locks that deadlock with writers.
        raise AssertionError("create_table ran on an existing store")

    monkeypatch.setattr(PostgresKeyStoreRecorder, "create_table", no_ddl)
    monkeypatch.setattr(PostgresSecretsView, "create_table", no_ddl)
    with SecretsManager.open(postgres_url, master_key=MASTER_KEY) as sm:
        assert sm.reveal("a") == "v"


def test_an_opener_that_waited_for_another_to_create_the_schema_can_write_when_it_is_done(
    postgres_url: str,
) -> None:
    from eventsourcing.application import Application

    from strongroom.infrastructure.keys import KeyRing
    from strongroom.infrastructure.master_key import RawKeyProvider
    from strongroom.infrastructure.store import StrongroomApplication, parse_url
    from strongroom.services.keys import KeyAPI

    # Its recorder is constructed (and looks up its types) before the schema exists...
    _, env = parse_url(postgres_url)
    early = StrongroomApplication.__new__(StrongroomApplication)
    Application.__init__(early, env)
    try:
        # ...another process creates the schema meanwhile...
        with SecretsManager.open(postgres_url, master_key=MASTER_KEY) as sm:
            sm.create("made-by-the-other", "v")
        # ...and the early opener then finds it marked done and skips the DDL.
        early.views = early.create_tables([])
        early.keys = KeyRing(RawKeyProvider(MASTER_KEY), early.recorder)
        early.shredding_mapper.keys = early.keys

        KeyAPI(early).set_secret("written-by-the-early-opener", "s")

        assert KeyAPI(early).get_secret("written-by-the-early-opener") == "s"
    finally:
        early.close()


def test_early_years_round_trip_through_the_views_when_a_secret_expires_in_them(
    sm: SecretsManager,
) -> None:
    from datetime import UTC, datetime

    early = datetime(202, 4, 13, tzinfo=UTC)
    sm.create("ancient", "v", expires_at=early)

    (item,) = sm.list().items
    assert item.expires_at == early
    assert item.is_expired
    assert [e.action for e in sm.audit()] == ["created"]
    assert sm.stats().expired == 1


def test_rebuild_reports_progress_up_to_the_end_of_the_log_when_asked(
    sm: SecretsManager,
) -> None:
    for i in range(5):
        sm.create(f"s{i}", "v")
    seen: list[tuple[int, int]] = []

    sm.rebuild_projections(progress=lambda done, total: seen.append((done, total)))

    assert seen
    assert seen[-1][0] == seen[-1][1]
    assert len(sm.list().items) == 5


def test_opening_survives_losing_the_sqlite_tracking_migration_race_when_it_happens(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventsourcing.persistence import OperationalError

    from strongroom.projections.sqlite import SQLiteSecretsView

    with SecretsManager.open(sqlite_url, master_key=MASTER_KEY) as sm:
        sm.create("a", "v")
    real = SQLiteSecretsView.max_tracking_id
    calls: list[str] = []

    def first_looks_before_the_other_opener(self: Any, application_name: str) -> Any:
        # The interleaving seen in CI: this opener checked for the tracking table
        # before a concurrent opener created it and recorded its migration.
        calls.append(application_name)
        if len(calls) == 1:
            raise OperationalError("no such table: tracking")
        return real(self, application_name)

    monkeypatch.setattr(
        SQLiteSecretsView, "max_tracking_id", first_looks_before_the_other_opener
    )
    with SecretsManager.open(sqlite_url, master_key=MASTER_KEY) as sm:
        assert sm.reveal("a") == "v"


def test_opening_survives_losing_the_sqlite_wal_switch_race_when_it_happens(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from eventsourcing.sqlite import SQLiteConnectionPool

    real = SQLiteConnectionPool._create_connection
    calls: list[int] = []

    def lose_the_first_switch(self: Any) -> Any:
        # Seen in CI: two processes opening a fresh file; the loser of the switch to
        # WAL gets "database is locked" at once, the busy timeout notwithstanding.
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real(self)

    monkeypatch.setattr(
        SQLiteConnectionPool, "_create_connection", lose_the_first_switch
    )
    with SecretsManager.open(sqlite_url, master_key=MASTER_KEY) as sm:
        sm.create("a", "v")
        assert sm.reveal("a") == "v"
    assert len(calls) > 1


def test_catch_up_reads_past_unprojected_events_once_when_keys_follow_the_last_secret(
    store_url: str,
) -> None:
    with manager_on_application(store_url) as (sm, app):
        _catch_up_scans_once(sm, app)


def _catch_up_scans_once(sm: SecretsManager, app: Any) -> None:
    sm.create("first", "v", expires_at=datetime.now(UTC) + timedelta(days=1))
    for i in range(30):
        sm.keys.set_secret(f"aggregate-{i}", "key")
    sm.stats()
    last = app.recorder.max_notification_id()
    starts: list[Any] = []
    real = app.recorder.select_notifications

    def select(*args: Any, **kwargs: Any) -> Any:
        starts.append(kwargs["start"])
        return real(*args, **kwargs)

    app.recorder.select_notifications = select
    assert sm.stats().expiring_soon == 1
    sm.create("second", "v")
    names = [s.name for s in sm.list().items]

    # The 30 key events were scanned once; later catch-ups start after them, and
    # the secret written after them is still projected.
    assert starts[0] == last
    assert names == ["first", "second"]
    assert sm.stats().total == 2
