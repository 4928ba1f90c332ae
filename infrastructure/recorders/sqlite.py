"""The SQLite recorder: events, key rows, heads and the key index in one transaction."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
)

if TYPE_CHECKING:
    from eventsourcing.persistence import StoredEvent

from strongroom.domain.errors import AggregateShreddedError
from strongroom.infrastructure.recorders.base import (
    _KEY_IDX,
    _SELECT_HEAD,
    _SELECT_HEADS,
    EVENTS_TABLE,
    HEADS_TABLE,
    KEK_PREFIX,
    KEY_INDEX_TABLE,
    KEYS_TABLE,
    META_TABLE,
    HeadRow,
    IndexRow,
    KeyChange,
    KeyRow,
    _chunks,
    _head,
    _head_changes,
    _head_row,
    _index_changes,
    _key_changes,
    _may_register,
)


class SQLiteKeyStoreRecorder(SQLiteApplicationRecorder):
    """SQLite events table plus key store (key rows commit with the events)."""

    def __init__(
        self, datastore: SQLiteDatastore, events_table_name: str = EVENTS_TABLE
    ) -> None:
        super().__init__(datastore, events_table_name)
        tables = {"events": events_table_name, "heads": HEADS_TABLE, "keys": KEYS_TABLE}
        self._select_head = _SELECT_HEAD.format(**tables) + "?"
        self._select_heads = (
            _SELECT_HEADS.format(**tables) + "IN (SELECT value FROM json_each(?))"
        )

    def construct_create_table_statements(self) -> list[str]:
        """The events table and the key store's tables."""
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} ("
            "id TEXT PRIMARY KEY, wrapped BLOB NOT NULL, kek TEXT NOT NULL) WITHOUT ROWID",
            f"CREATE INDEX IF NOT EXISTS {KEYS_TABLE}_kek_idx ON {KEYS_TABLE} (kek, id)",
            f"CREATE TABLE IF NOT EXISTS {KEY_INDEX_TABLE} ("
            "idx INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, key_id BLOB NOT NULL, "
            "deleted INTEGER NOT NULL DEFAULT 0)",
            f"CREATE TABLE IF NOT EXISTS {META_TABLE} ("
            "name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS strongroom_counters ("
            "name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {HEADS_TABLE} ("
            "id TEXT PRIMARY KEY, version INTEGER NOT NULL, state BLOB NOT NULL) "
            "WITHOUT ROWID",
        ]

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        changes = list(_key_changes(kwargs))
        c.executemany(
            f"DELETE FROM {KEYS_TABLE} WHERE id = ?",
            [(x.key_id.hex,) for x in changes if x.wrapped is None],
        )
        c.executemany(
            f"INSERT INTO {KEYS_TABLE} (id, wrapped, kek) VALUES (?, ?, ?)",
            [
                (x.key_id.hex, x.wrapped, x.kek)
                for x in changes
                if x.wrapped is not None
            ],
        )
        for item in _index_changes(kwargs):
            if item.sealed_key_id is None:
                c.execute(
                    f"UPDATE {KEY_INDEX_TABLE} SET deleted = 1 WHERE id = ?",
                    (item.id.hex,),
                )
                continue
            # Writers are serialised by SQLite, so idx order is commit order.
            c.execute(
                "UPDATE strongroom_counters SET value = MAX(value + 1, ?) "
                "WHERE name = ? RETURNING value",
                (item.idx or 0, _KEY_IDX),
            )
            (idx,) = c.fetchone()
            c.execute(
                f"INSERT INTO {KEY_INDEX_TABLE} (idx, id, key_id, deleted) "
                "VALUES (?, ?, ?, ?)",
                (idx, item.id.hex, item.sealed_key_id, int(item.deleted)),
            )
        heads = list(_head_changes(kwargs))
        c.executemany(
            f"DELETE FROM {HEADS_TABLE} WHERE id = ?",
            [(h.id.hex,) for h in heads if h.state is None],
        )
        c.executemany(
            f"INSERT INTO {HEADS_TABLE} AS h (id, version, state) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
            "state = excluded.state WHERE h.version < excluded.version",
            [(h.id.hex, h.version, h.state) for h in heads if h.state is not None],
        )
        return super()._insert_events(c, stored_events, **kwargs)

    def write_within(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """Save on a transaction another recorder holds in this database file."""
        self._insert_events(c, stored_events, **kwargs)

    def hold_keys_within(self, c: SQLiteCursor, key_ids: Sequence[UUID]) -> None:
        """AggregateShreddedError unless every key row exists (the transaction holds
        the file's write lock to its end, so none can go before it commits)."""
        ids = json.dumps([key_id.hex for key_id in key_ids])
        c.execute(
            f"SELECT count(*) FROM {KEYS_TABLE} "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (ids,),
        )
        if c.fetchone()[0] < len(set(key_ids)):
            raise AggregateShreddedError("a data key was destroyed")

    def log_signal(self) -> SQLiteLogSignal:
        """A signal that wakes when the log has grown (a cheap poll of its end)."""
        return SQLiteLogSignal(self)

    def select_head(self, aggregate_id: UUID) -> HeadRow | None:
        """An aggregate's head with its data key, in one query; None if it has none."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_head, (aggregate_id.hex,))
            return _head_row(c.fetchone())

    def select_stream_version(self, aggregate_id: UUID) -> int | None:
        """The last version of an aggregate's stream (None: no stream), one query."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT max(originator_version) FROM {self.events_table_name} "
                "WHERE originator_id = ?",
                (aggregate_id.hex,),
            )
            row = c.fetchone()
            return None if row is None else row[0]

    def select_heads(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, HeadRow]:
        """The heads (with data keys) of those of ``aggregate_ids`` that have one."""
        ids = json.dumps([aggregate_id.hex for aggregate_id in aggregate_ids])
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_heads, (ids,))
            return {UUID(row[0]): _head(row[1:]) for row in c.fetchall()}

    def select_wrapped_keys(self, key_ids: Sequence[UUID]) -> dict[UUID, KeyRow]:
        """Wrapped keys of the given ids that exist."""
        if not key_ids:
            return {}
        found: dict[UUID, KeyRow] = {}
        with self.datastore.transaction(commit=False) as c:
            for chunk in _chunks(key_ids, 500):
                marks = ",".join("?" * len(chunk))
                c.execute(
                    f"SELECT id, wrapped, kek FROM {KEYS_TABLE} WHERE id IN ({marks})",
                    [key_id.hex for key_id in chunk],
                )
                for row in c.fetchall():
                    found[UUID(row["id"])] = KeyRow(bytes(row["wrapped"]), row["kek"])
        return found

    def initialise_store(
        self, store_key: KeyChange, available: Iterable[str]
    ) -> tuple[KeyRow, set[str]]:
        """See ``KeyStoreRecorder.initialise_store``."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT OR IGNORE INTO {KEYS_TABLE} (id, wrapped, kek) VALUES (?, ?, ?)",
                (store_key.key_id.hex, store_key.wrapped, store_key.kek),
            )
            # Writes come first in this transaction: a SQLite reader that then
            # writes can fail at once with "database is locked" instead of waiting.
            c.execute(
                "INSERT OR IGNORE INTO strongroom_counters (name, value) VALUES (?, 0)",
                (_KEY_IDX,),
            )
            c.execute(
                f"SELECT wrapped, kek FROM {KEYS_TABLE} WHERE id = ?",
                (store_key.key_id.hex,),
            )
            row = c.fetchone()
            found = KeyRow(bytes(row["wrapped"]), row["kek"])
            c.execute(f"SELECT name FROM {META_TABLE} WHERE name LIKE 'kek:%'")
            keks = {r["name"][len(KEK_PREFIX) :] for r in c.fetchall()}
            if _may_register(found, keks, available):
                c.execute(
                    f"INSERT OR IGNORE INTO {META_TABLE} (name, value) VALUES (?, ?)",
                    (KEK_PREFIX + str(store_key.kek), b""),
                )
                keks.add(str(store_key.kek))
        return found, keks

    def register_kek(self, kek: str) -> None:
        """Record that keys may now be wrapped under ``kek``."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT OR IGNORE INTO {META_TABLE} (name, value) VALUES (?, ?)",
                (KEK_PREFIX + kek, b""),
            )

    def select_keks(self) -> set[str]:
        """Every master key id the store's keys may be wrapped under."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT name FROM {META_TABLE} WHERE name LIKE 'kek:%'")
            return {r["name"][len(KEK_PREFIX) :] for r in c.fetchall()}

    def select_key_index(
        self,
        *,
        start: int,
        limit: int,
        skip: int = 0,
        ids: Sequence[UUID] | None = None,
        include_deleted: bool = False,
    ) -> list[IndexRow]:
        """Issued key ids with ``idx >= start`` in idx order."""
        where = "i.idx >= ?"
        params: list[Any] = [start]
        if ids is not None:
            if not ids:
                return []
            where += f" AND i.id IN ({','.join('?' * len(ids))})"
            params += [key_id.hex for key_id in ids]
        if not include_deleted:
            where += " AND NOT i.deleted"
        params += [limit, skip]
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT i.idx, i.id, i.key_id, k.wrapped, k.kek "
                f"FROM {KEY_INDEX_TABLE} i LEFT JOIN {KEYS_TABLE} k ON k.id = i.id "
                f"WHERE {where} ORDER BY i.idx LIMIT ? OFFSET ?",
                params,
            )
            return [
                IndexRow(
                    row["idx"],
                    UUID(row["id"]),
                    bytes(row["key_id"]),
                    None
                    if row["wrapped"] is None
                    else KeyRow(bytes(row["wrapped"]), row["kek"]),
                )
                for row in c.fetchall()
            ]

    def count_key_index(self) -> tuple[int, int]:
        """How many key ids were issued, and how many of them are shredded."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT count(*) AS total, coalesce(sum(deleted), 0) AS deleted "
                f"FROM {KEY_INDEX_TABLE}"
            )
            row = c.fetchone()
            return int(row["total"]), int(row["deleted"])

    def select_keys_wrapped_by(
        self, kek: str, *, after: UUID | None, limit: int
    ) -> list[tuple[UUID, bytes]]:
        """Key rows wrapped under ``kek``, in id order after ``after``."""
        # Hex ids sort like the UUIDs; the store key (all zeros) comes first.
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT id, wrapped FROM {KEYS_TABLE} WHERE kek = ? AND id > ? "
                "ORDER BY id LIMIT ?",
                (kek, "" if after is None else after.hex, limit),
            )
            return [(UUID(row["id"]), bytes(row["wrapped"])) for row in c.fetchall()]

    def rewrap_keys(self, rows: Sequence[tuple[UUID, str, bytes, str]]) -> int:
        """Replace ``(id, old kek, wrapped, new kek)`` rows still under the old kek."""
        changed = 0
        with self.datastore.transaction(commit=True) as c:
            for key_id, old, wrapped, new in rows:
                c.execute(
                    f"UPDATE {KEYS_TABLE} SET wrapped = ?, kek = ? WHERE id = ? AND kek = ?",
                    (wrapped, new, key_id.hex, old),
                )
                changed += c.sqlite_cursor.rowcount
        return changed

    def count_keys_by_kek(self) -> dict[str, int]:
        """How many key rows each master key wraps."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT kek, count(*) AS n FROM {KEYS_TABLE} GROUP BY kek")
            return {row["kek"]: int(row["n"]) for row in c.fetchall()}

    def retire_kek(self, kek: str) -> bool:
        """Forget a master key id if no key row is wrapped under it any more."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"DELETE FROM {META_TABLE} WHERE name = ? "
                f"AND NOT EXISTS (SELECT 1 FROM {KEYS_TABLE} WHERE kek = ?)",
                (KEK_PREFIX + kek, kek),
            )
            return c.sqlite_cursor.rowcount > 0


class SQLiteLogSignal:
    """Wakes a watcher when the log's last position moves: SQLite has no
    notifications, and ``max(notification_id)`` is one step down an index."""

    POLL_INTERVAL = 0.05

    def __init__(self, recorder: SQLiteKeyStoreRecorder) -> None:
        self._recorder = recorder
        self._seen = recorder.max_notification_id()

    def wait(self, timeout: float) -> bool:
        """Whether the log grew within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            last = self._recorder.max_notification_id()
            if last != self._seen:
                self._seen = last
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.POLL_INTERVAL, left))

    def close(self) -> None:
        """Nothing to release: it reads through the recorder's connection."""
