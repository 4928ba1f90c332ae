"""Application recorders that keep the key store beside the events, atomically.

The key table lives outside the events table. Key rows are inserted and deleted in
the same transaction as the events they go with: callers pass ``key_changes`` to
``Application.save(...)``, eventsourcing hands them to ``_insert_events``, and the
rows are written before the events under the same transaction, so a failed insert
of the events (a duplicate name, a lost race) leaves no key behind, and a committed
``Deleted`` event never leaves its data key alive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

if TYPE_CHECKING:
    from eventsourcing.persistence import StoredEvent
    from psycopg import Cursor
    from psycopg.rows import DictRow

KEYS_TABLE = "strongroom_keys"
META_TABLE = "strongroom_meta"


@dataclass(frozen=True, slots=True)
class KeyChange:
    """Insert (``wrapped`` given) or delete (``wrapped`` None) one key row."""

    key_id: UUID
    wrapped: bytes | None = None

    def __repr__(self) -> str:
        action = "delete" if self.wrapped is None else "insert"
        return f"KeyChange({action} {self.key_id})"


class KeyStoreRecorder(Protocol):
    """What the key ring needs from a recorder."""

    def select_wrapped_keys(self, key_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """Wrapped keys of the given ids that exist."""

    def initialise_meta(self, defaults: Mapping[str, bytes]) -> dict[str, bytes]:
        """Insert missing metadata entries, then return all of them."""


def _key_changes(kwargs: Mapping[str, Any]) -> Iterable[KeyChange]:
    return kwargs.get("key_changes") or ()


class PostgresKeyStoreRecorder(PostgresApplicationRecorder):
    """PostgreSQL events table plus key store (key rows commit with the events)."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(self.datastore.schema)
        keys = Identifier(KEYS_TABLE)
        meta = Identifier(META_TABLE)
        self.sql_create_statements.extend(
            [
                SQL(
                    "CREATE TABLE IF NOT EXISTS {}.{} ("
                    "id uuid PRIMARY KEY, wrapped bytea NOT NULL)"
                ).format(schema, keys),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {}.{} ("
                    "name text PRIMARY KEY, value bytea NOT NULL)"
                ).format(schema, meta),
            ]
        )
        self._insert_key = SQL("INSERT INTO {}.{} (id, wrapped) VALUES (%s, %s)").format(
            schema, keys
        )
        self._delete_key = SQL("DELETE FROM {}.{} WHERE id = %s").format(schema, keys)
        self._select_keys = SQL("SELECT id, wrapped FROM {}.{} WHERE id = ANY(%s)").format(
            schema, keys
        )
        self._insert_meta = SQL(
            "INSERT INTO {}.{} (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        ).format(schema, meta)
        self._select_meta = SQL("SELECT name, value FROM {}.{}").format(schema, meta)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert key changes and events in one transaction, all or nothing.

        The base class records an error raised while inserting events and lets the
        transaction block exit normally, which commits whatever ran before it (the
        key rows) unless the error came from the server. Here any error rolls back.
        """
        failure: Exception | None = None
        notification_ids: Sequence[int] | None = None
        with self.datastore.get_connection() as conn:
            with conn.pipeline() as pipeline, conn.transaction():
                with conn.cursor() as curs:
                    self._insert_events(curs, stored_events, **kwargs)
                if stored_events:
                    with conn.cursor() as curs:
                        try:
                            self._insert_stored_events(curs, stored_events, **kwargs)
                            pipeline.sync()
                            notification_ids = self._fetch_ids_after_insert_events(
                                curs, stored_events, **kwargs
                            )
                        except Exception as exc:
                            failure = exc
                    if failure is not None:
                        raise psycopg.Rollback
            if failure is not None:
                raise failure
        return notification_ids

    def _insert_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        for change in _key_changes(kwargs):
            if change.wrapped is None:
                curs.execute(self._delete_key, (change.key_id,), prepare=True)
            else:
                curs.execute(
                    self._insert_key, (change.key_id, change.wrapped), prepare=True
                )
        super()._insert_events(curs, stored_events, **kwargs)

    def select_wrapped_keys(self, key_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """Wrapped keys of the given ids that exist."""
        if not key_ids:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_keys, (list(key_ids),), prepare=True)
            return {row["id"]: bytes(row["wrapped"]) for row in curs.fetchall()}

    def initialise_meta(self, defaults: Mapping[str, bytes]) -> dict[str, bytes]:
        """Insert missing metadata entries (first opener wins), then read them all."""
        with self.datastore.transaction(commit=True) as curs:
            for name, value in defaults.items():
                curs.execute(self._insert_meta, (name, value))
            curs.execute(self._select_meta)
            return {row["name"]: bytes(row["value"]) for row in curs.fetchall()}


class SQLiteKeyStoreRecorder(SQLiteApplicationRecorder):
    """SQLite events table plus key store (key rows commit with the events)."""

    def construct_create_table_statements(self) -> list[str]:
        """The events table, the key table and the store's metadata table."""
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} ("
            "id TEXT PRIMARY KEY, wrapped BLOB NOT NULL) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {META_TABLE} ("
            "name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
        ]

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        for change in _key_changes(kwargs):
            if change.wrapped is None:
                c.execute(f"DELETE FROM {KEYS_TABLE} WHERE id = ?", (change.key_id.hex,))
            else:
                c.execute(
                    f"INSERT INTO {KEYS_TABLE} (id, wrapped) VALUES (?, ?)",
                    (change.key_id.hex, change.wrapped),
                )
        return super()._insert_events(c, stored_events, **kwargs)

    def select_wrapped_keys(self, key_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """Wrapped keys of the given ids that exist."""
        if not key_ids:
            return {}
        marks = ",".join("?" * len(key_ids))
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT id, wrapped FROM {KEYS_TABLE} WHERE id IN ({marks})",
                [key_id.hex for key_id in key_ids],
            )
            return {UUID(row["id"]): bytes(row["wrapped"]) for row in c.fetchall()}

    def initialise_meta(self, defaults: Mapping[str, bytes]) -> dict[str, bytes]:
        """Insert missing metadata entries (first opener wins), then read them all."""
        with self.datastore.transaction(commit=True) as c:
            for name, value in defaults.items():
                c.execute(
                    f"INSERT OR IGNORE INTO {META_TABLE} (name, value) VALUES (?, ?)",
                    (name, value),
                )
            c.execute(f"SELECT name, value FROM {META_TABLE}")
            return {row["name"]: bytes(row["value"]) for row in c.fetchall()}
