"""The PostgreSQL recorder: events, key rows, heads and the key index in one
transaction (one statement per save when it can be)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg.sql import Composable

from strongroom.infrastructure.commit import GroupCommit

if TYPE_CHECKING:
    from eventsourcing.persistence import StoredEvent
    from psycopg import Cursor
    from psycopg.rows import DictRow

from strongroom.infrastructure.recorders.base import (
    _KEY_IDX,
    EVENTS_TABLE,
    KEK_PREFIX,
    STORE_KEY_ID,
    HeadRow,
    IndexRow,
    KeyChange,
    KeyRow,
    _batchable,
    _head,
    _head_changes,
    _head_row,
    _index_changes,
    _key_changes,
    _may_register,
)
from strongroom.infrastructure.recorders.postgres_connections import (
    KeptConnections,
    LogSignal,
)
from strongroom.infrastructure.recorders.postgres_errors import (
    CommitOutcomeUnknownError,
    LockWaitTimeoutError,
    _raise_if_broken,
    bound_lock_waits,
)
from strongroom.infrastructure.recorders.postgres_sql import PostgresStatements


class PostgresKeyStoreRecorder(PostgresApplicationRecorder):
    """PostgreSQL events table plus key store (key rows commit with the events)."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = EVENTS_TABLE
    ) -> None:
        bound_lock_waits(datastore)
        super().__init__(datastore, events_table_name=events_table_name)
        self.readers = KeptConnections(datastore, limit=8)
        # Saves are led one at a time by the group commit: one kept connection.
        self._writer = KeptConnections(datastore, limit=1)
        self._group: GroupCommit[
            tuple[Sequence[StoredEvent], Mapping[str, Any]], Sequence[int] | None
        ] = GroupCommit(
            self._commit_batch,
            batchable=_batchable,
            # A batch whose commit outcome is unknown is never written again; one
            # that waited out the lock timeout would only wait again per write.
            retry_alone=lambda exc: (
                not isinstance(exc, CommitOutcomeUnknownError | LockWaitTimeoutError)
            ),
        )
        # The base class's SET LOCAL lock_timeout and LOCK TABLE, composed once.
        self._lock_statements = [
            cast("Composable", s).as_bytes(None) for s in self.lock_table_statements
        ]
        self._sql = PostgresStatements(
            self.datastore.schema, self.events_table_name, self.channel_name
        )
        self.sql_create_statements.extend(self._sql.create)
        self._lock_timeout = f"{self.datastore.lock_timeout}s"

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert key changes, heads and events in one transaction, all or nothing.

        Concurrent callers' writes share transactions (``GroupCommit``); each caller
        still gets its own notification ids, or its own error.
        """
        return self._group.submit((stored_events, kwargs))

    def _commit_batch(
        self, writes: Sequence[tuple[Sequence[StoredEvent], Mapping[str, Any]]]
    ) -> list[Sequence[int] | None]:
        events = [event for stored, _ in writes for event in stored]
        merged: dict[str, list[Any]] = {}
        for _, kwargs in writes:
            for name, items in kwargs.items():
                if name != "tracking":
                    merged.setdefault(name, []).extend(items or ())
        if events and not merged.get("key_index"):
            ids = self._save_batch(events, merged)
        else:
            ids = self._pipelined_batch(events, merged)
        results: list[Sequence[int] | None] = []
        for stored, _ in writes:
            results.append(ids[: len(stored)] if stored else None)
            ids = ids[len(stored) :]
        return results

    def _save_batch(
        self, events: Sequence[StoredEvent], merged: Mapping[str, list[Any]]
    ) -> list[int]:
        keys = list(_key_changes(merged))
        heads = list(_head_changes(merged))
        text, params, prepare = self._sql.save.compose(
            self._lock_timeout,
            gone_keys=[c.key_id for c in keys if c.wrapped is None],
            keys=[(c.key_id, c.wrapped, c.kek) for c in keys if c.wrapped is not None],
            gone_heads=[h.id for h in heads if h.state is None],
            heads=[(h.id, h.version, h.state) for h in heads if h.state is not None],
            events=[
                (e.originator_id, e.originator_version, e.topic, e.state)
                for e in events
            ],
        )
        with (
            self._writer.connection() as conn,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            try:
                curs.execute(text, params, prepare=prepare)
                return [row[0] for row in curs.fetchall()]
            except psycopg.Error as exc:
                _raise_if_broken(conn, exc)
                raise

    def _pipelined_batch(
        self, events: Sequence[StoredEvent], merged: Mapping[str, list[Any]]
    ) -> list[int]:
        with self.datastore.get_connection() as conn:
            # One round trip: BEGIN to COMMIT pipelined, then a single sync. An error
            # aborts the transaction on the server and skips the rest, COMMIT too.
            try:
                with conn.pipeline() as pipeline:
                    with conn.cursor(row_factory=tuple_row) as curs:
                        curs.execute(b"BEGIN")
                        # The EXCLUSIVE lock comes first: it makes notification id
                        # order commit order (see the base class), and writers that
                        # queue on it hold no row locks another writer could want.
                        for statement in self._lock_statements:
                            curs.execute(statement, prepare=True)
                        self._insert_events(
                            cast("Cursor[DictRow]", curs), events, **merged
                        )
                    with conn.cursor(row_factory=tuple_row) as curs:
                        if events:
                            self._insert_stored_events(curs, events)
                        conn.execute(b"COMMIT")
                        pipeline.sync()
                        ids = [row[0] for row in curs.fetchall()] if events else []
            except BaseException as exc:
                _raise_if_broken(conn, exc)
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.execute(b"ROLLBACK")
                # Statements being prepared in an aborted pipeline were skipped by the
                # server, but psycopg counts them as prepared ("prepared statement
                # does not exist" later): forget them all, server and client side.
                prepared = getattr(conn, "_prepared", None)
                if prepared is None:
                    conn.close()
                else:
                    prepared.clear()
                raise
        return ids

    def write_within(
        self, curs: Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """Queue a save on a transaction another recorder holds in this database."""
        for statement in self._lock_statements:
            curs.execute(statement, prepare=True)
        self._insert_events(cast("Cursor[DictRow]", curs), stored_events, **kwargs)
        self._insert_stored_events(curs, stored_events)

    def hold_keys_within(self, curs: Cursor[Any], key_ids: Sequence[UUID]) -> None:
        """Lock key rows to the end of ``curs``'s transaction (KEYS_DESTROYED if gone)."""
        curs.execute(self._sql.hold_keys, (list(key_ids),), prepare=True)

    @property
    def keys_table(self) -> Composable:
        """The key table's qualified name, for another recorder's joins."""
        return self._sql.keys_table

    def _insert_stored_events(
        self, curs: Cursor[Any], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        curs.execute(self._sql.notify)
        self._sql.insert_stored.execute(
            curs,
            [
                (e.originator_id, e.originator_version, e.topic, e.state)
                for e in stored_events
            ],
        )

    def _insert_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        changes = list(_key_changes(kwargs))
        inserts = [c for c in changes if c.wrapped is not None]
        if deletes := [c.key_id for c in changes if c.wrapped is None]:
            curs.execute(self._sql.delete_keys, (deletes,), prepare=True)
        if inserts:
            self._sql.insert_keys.execute(
                curs, [(c.key_id, c.wrapped, c.kek) for c in inserts]
            )
        items = list(_index_changes(kwargs))
        issued = [i for i in items if i.sealed_key_id is not None]
        if shredded := [i.id for i in items if i.sealed_key_id is None]:
            curs.execute(self._sql.shred_key_ids, (shredded,), prepare=True)
        if issued:
            curs.execute(
                self._sql.issue_key_ids,
                (
                    [i.id for i in issued],
                    [i.sealed_key_id for i in issued],
                    [i.deleted for i in issued],
                    [i.idx or 0 for i in issued],
                ),
                prepare=True,
            )
        heads = list(_head_changes(kwargs))
        if gone := [h.id for h in heads if h.state is None]:
            curs.execute(self._sql.delete_heads, (gone,), prepare=True)
        if put := [(h.id, h.version, h.state) for h in heads if h.state is not None]:
            self._sql.put_heads.execute(curs, put)
        super()._insert_events(curs, stored_events, **kwargs)

    @retry((InterfaceError, OperationalError), max_attempts=3, wait=0.1)
    def select_head(self, aggregate_id: UUID) -> HeadRow | None:
        """An aggregate's head with its data key, in one query; None if it has none."""
        return _head_row(self._read_one(self._sql.select_head, aggregate_id))

    def select_stream_version(self, aggregate_id: UUID) -> int | None:
        """The last version of an aggregate's stream (None: no stream), one query."""
        row = self._read_one(self._sql.select_stream_version, aggregate_id)
        return None if row is None else row[0]

    def select_heads(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, HeadRow]:
        """The heads (with data keys) of those of ``aggregate_ids`` that have one."""
        with (
            self.readers.connection() as conn,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            curs.execute(self._sql.select_heads, (list(aggregate_ids),), prepare=True)
            return {row[0]: _head(row[1:]) for row in curs}

    def log_signal(self) -> LogSignal:
        """A signal that wakes when a save may have committed (LISTEN/NOTIFY)."""
        return self.readers.listener(self.channel_name)

    def _read_one(self, statement: bytes, aggregate_id: UUID) -> tuple[Any, ...] | None:
        """One row by aggregate id, on a kept reader connection."""
        return self.readers.fetch_one(statement, (aggregate_id,))

    def close(self) -> None:
        """Close the kept connections."""
        self.readers.close()
        self._writer.close()

    def select_wrapped_keys(self, key_ids: Sequence[UUID]) -> dict[UUID, KeyRow]:
        """Wrapped keys of the given ids that exist."""
        if not key_ids:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql.select_keys, (list(key_ids),), prepare=True)
            return {
                row["id"]: KeyRow(bytes(row["wrapped"]), row["kek"])
                for row in curs.fetchall()
            }

    def initialise_store(
        self, store_key: KeyChange, available: Iterable[str]
    ) -> tuple[KeyRow, set[str]]:
        """See ``KeyStoreRecorder.initialise_store``."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                self._sql.insert_store_key,
                (store_key.key_id, store_key.wrapped, store_key.kek),
            )
            curs.execute(self._sql.insert_counter, (_KEY_IDX,))
            curs.execute(self._sql.select_keys, ([store_key.key_id],))
            row = curs.fetchone()
            assert row is not None
            found = KeyRow(bytes(row["wrapped"]), row["kek"])
            curs.execute(self._sql.select_keks)
            keks = {r["name"][len(KEK_PREFIX) :] for r in curs.fetchall()}
            if _may_register(found, keks, available):
                curs.execute(
                    self._sql.insert_meta, (KEK_PREFIX + str(store_key.kek), b"")
                )
                keks.add(str(store_key.kek))
        return found, keks

    def register_kek(self, kek: str) -> None:
        """Record that keys may now be wrapped under ``kek``."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._sql.insert_meta, (KEK_PREFIX + kek, b""))

    def select_keks(self) -> set[str]:
        """Every master key id the store's keys may be wrapped under."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql.select_keks)
            return {r["name"][len(KEK_PREFIX) :] for r in curs.fetchall()}

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
        statement = self._sql.select_index[ids is not None, include_deleted]
        params: list[Any] = [start]
        if ids is not None:
            params.append(list(ids))
        params += [limit, skip]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [
                IndexRow(
                    row["idx"],
                    row["id"],
                    bytes(row["key_id"]),
                    None
                    if row["wrapped"] is None
                    else KeyRow(bytes(row["wrapped"]), row["kek"]),
                )
                for row in curs.fetchall()
            ]

    def count_key_index(self) -> tuple[int, int]:
        """How many key ids were issued, and how many of them are shredded."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql.count_index)
            row = curs.fetchone()
            assert row is not None
            return int(row["total"]), int(row["deleted"])

    def select_keys_wrapped_by(
        self, kek: str, *, after: UUID | None, limit: int
    ) -> list[tuple[UUID, bytes]]:
        """Key rows wrapped under ``kek``, in id order after ``after``."""
        statement = self._sql.select_by_kek[after is None]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (kek, after or STORE_KEY_ID, limit))
            return [(row["id"], bytes(row["wrapped"])) for row in curs.fetchall()]

    def rewrap_keys(self, rows: Sequence[tuple[UUID, str, bytes, str]]) -> int:
        """Replace ``(id, old kek, wrapped, new kek)`` rows still under the old kek."""
        groups: dict[tuple[str, str], tuple[list[UUID], list[bytes]]] = {}
        for key_id, old, wrapped, new in rows:
            ids, blobs = groups.setdefault((old, new), ([], []))
            ids.append(key_id)
            blobs.append(wrapped)
        changed = 0
        with self.datastore.transaction(commit=True) as curs:
            # One statement per batch: a round trip per key made rotation slow.
            for (old, new), (ids, blobs) in groups.items():
                curs.execute(self._sql.rewrap, (new, ids, blobs, old))
                changed += curs.rowcount
        return changed

    def count_keys_by_kek(self) -> dict[str, int]:
        """How many key rows each master key wraps."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql.count_by_kek)
            return {row["kek"]: int(row["n"]) for row in curs.fetchall()}

    def retire_kek(self, kek: str) -> bool:
        """Forget a master key id if no key row is wrapped under it any more."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._sql.retire, (KEK_PREFIX + kek, kek))
            return curs.rowcount > 0
