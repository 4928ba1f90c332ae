"""Our key-carrying recorders still meet eventsourcing's own recorder test cases."""

from __future__ import annotations

import os
import secrets
import tempfile
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

ADMIN_URL = os.environ.get("STRONGROOM_TEST_POSTGRES_URL") or (
    "postgresql://postgres@127.0.0.1:5432/postgres"
)


class TestSQLiteKeyStoreRecorder(es_tests.ApplicationRecorderTestCase[SQLiteKeyStoreRecorder]):
    """eventsourcing's ApplicationRecorderTestCase against the SQLite recorder."""

    def setUp(self) -> None:
        self._dir = tempfile.TemporaryDirectory()
        self.datastore = SQLiteDatastore(str(Path(self._dir.name) / "es.db"))

    def tearDown(self) -> None:
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
class TestPostgresKeyStoreRecorder(es_tests.ApplicationRecorderTestCase[PostgresKeyStoreRecorder]):
    """eventsourcing's ApplicationRecorderTestCase against the PostgreSQL recorder."""

    def setUp(self) -> None:
        self.dbname = f"strongroom_es_{secrets.token_hex(6)}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.dbname)))
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
