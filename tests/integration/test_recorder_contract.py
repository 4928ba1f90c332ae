"""Our key-carrying recorders still meet eventsourcing's own recorder test cases."""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.tests import persistence as es_tests
from psycopg import sql

from strongroom.infrastructure.recorders import (
    PostgresKeyStoreRecorder,
    SQLiteKeyStoreRecorder,
)


def _join_stray_threads(before: set[threading.Thread]) -> None:
    # The library's concurrency test stops its reader threads without joining them;
    # closing the datastore under a running reader would crash SQLite.
    for thread in set(threading.enumerate()) - before:
        if "read_continuously" in thread.name:
            thread.join(30)


ADMIN_URL = os.environ.get("STRONGROOM_TEST_POSTGRES_URL") or (
    "postgresql://postgres@127.0.0.1:5432/postgres"
)


class TestSQLiteKeyStoreRecorder(
    es_tests.ApplicationRecorderTestCase[SQLiteKeyStoreRecorder]
):
    """eventsourcing's ApplicationRecorderTestCase against the SQLite recorder."""

    def setUp(self) -> None:
        self._threads = set(threading.enumerate())
        self._dir = tempfile.TemporaryDirectory()
        self.datastore = SQLiteDatastore(str(Path(self._dir.name) / "es.db"))

    def tearDown(self) -> None:
        _join_stray_threads(self._threads)
        self.datastore.close()
        self._dir.cleanup()

    def create_recorder(self) -> SQLiteKeyStoreRecorder:
        recorder = SQLiteKeyStoreRecorder(self.datastore)
        recorder.create_table()
        return recorder

    # Throughput figures belong to bench/, not to a correctness suite.
    test_performance = None  # type: ignore[assignment]
    test_concurrent_throughput = None  # type: ignore[assignment]


@pytest.mark.usefixtures("postgres_admin_url")
class TestPostgresKeyStoreRecorder(
    es_tests.ApplicationRecorderTestCase[PostgresKeyStoreRecorder]
):
    """eventsourcing's ApplicationRecorderTestCase against the PostgreSQL recorder."""

    def setUp(self) -> None:
        self._threads = set(threading.enumerate())
        self.dbname = f"strongroom_es_{secrets.token_hex(6)}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.dbname))
            )
        parts = urlsplit(ADMIN_URL)
        self.datastore = PostgresDatastore(
            dbname=self.dbname,
            host=parts.hostname or "127.0.0.1",
            port=str(parts.port or 5432),
            user=parts.username or "postgres",
            password=parts.password or "",
            pool_size=4,
            max_overflow=12,
        )

    def tearDown(self) -> None:
        _join_stray_threads(self._threads)
        self.datastore.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.dbname)
                )
            )

    def create_recorder(self) -> PostgresKeyStoreRecorder:
        recorder = PostgresKeyStoreRecorder(self.datastore)
        recorder.create_table()
        return recorder

    test_performance = None  # type: ignore[assignment]
    test_concurrent_throughput = None  # type: ignore[assignment]
