"""Application recorders that keep the key store beside the events, atomically.

The key store is three tables outside the events table:

- ``strongroom_keys``: one wrapped key per row (data keys, aggregate keys, the
  store key), with the id of the master key that wrapped it;
- ``strongroom_key_index``: one row per aggregate key id ever issued (the
  reSolve-style ``idx``), kept as a tombstone after the key is destroyed;
- ``strongroom_meta``: the master keys the store's keys are wrapped under, and
  counters.

Key rows are inserted and deleted in the same transaction as the events they go
with: callers pass ``key_changes`` (and ``key_index``) to ``Application.save(...)``,
eventsourcing hands them to ``_insert_events``, and the rows are written before the
events under the same transaction, so a failed insert of the events (a duplicate
name, a lost race) leaves no key behind, and a committed ``Deleted`` event never
leaves its data key alive.
"""

from __future__ import annotations

import collections
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
)
from eventsourcing.utils import retry
from psycopg.errors import LockNotAvailable
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composable, Composed, Identifier, Literal
from psycopg_pool import PoolTimeout

from strongroom.infrastructure.commit import GroupCommit

if TYPE_CHECKING:
    from eventsourcing.persistence import StoredEvent
    from psycopg import Cursor
    from psycopg.rows import DictRow

EVENTS_TABLE = "strongroom_events"
KEYS_TABLE = "strongroom_keys"
KEY_INDEX_TABLE = "strongroom_key_index"
META_TABLE = "strongroom_meta"
HEADS_TABLE = "strongroom_heads"
STORE_KEY_ID = UUID(int=0)
"""The key row of the store key (random and v4 ids can never be the nil UUID)."""
KEK_PREFIX = "kek:"
_KEY_IDX = "key_idx"


@dataclass(frozen=True, slots=True)
class KeyChange:
    """Insert (``wrapped`` given) or delete (``wrapped`` None) one key row."""

    key_id: UUID
    wrapped: bytes | None = None
    kek: str | None = None

    def __repr__(self) -> str:
        action = "delete" if self.wrapped is None else "insert"
        return f"KeyChange({action} {self.key_id})"


@dataclass(frozen=True, slots=True)
class KeyIndexChange:
    """Issue an aggregate key id (``sealed_key_id`` given) or mark it shredded.

    An issued id gets the next ``idx``, or ``idx`` itself when that is higher (an
    import keeps its source's numbering where it can).
    """

    id: UUID
    sealed_key_id: bytes | None = None
    idx: int | None = None
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class HeadChange:
    """Replace an aggregate's head (``state`` given) or delete it (``state`` None).

    ``state`` is sealed like an event at position ``version``; a head is only ever
    replaced by a later one.
    """

    id: UUID
    version: int = 0
    state: bytes | None = None

    def __repr__(self) -> str:
        action = "delete" if self.state is None else f"put v{self.version}"
        return f"HeadChange({action} {self.id})"


class HeadRow(NamedTuple):
    """A head as stored, its aggregate's data key, and the stream's last position."""

    version: int
    state: bytes
    key: KeyRow | None
    last_version: int | None


class KeyRow(NamedTuple):
    """A wrapped key and the id of the master key that wrapped it."""

    wrapped: bytes
    kek: str


class IndexRow(NamedTuple):
    """One issued aggregate key id, with its wrapped key unless it was shredded."""

    idx: int
    id: UUID
    sealed_key_id: bytes
    key: KeyRow | None


class KeyStoreRecorder(Protocol):
    """What the key ring and the key API need from a recorder."""

    def select_wrapped_keys(self, key_ids: Sequence[UUID]) -> dict[UUID, KeyRow]:
        """Wrapped keys of the given ids that exist."""
        ...

    def select_head(self, aggregate_id: UUID) -> HeadRow | None:
        """An aggregate's head with its data key, in one query; None if it has none."""
        ...

    def select_heads(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, HeadRow]:
        """The heads (with data keys) of those of ``aggregate_ids`` that have one."""
        ...

    def initialise_store(
        self, store_key: KeyChange, available: Iterable[str]
    ) -> tuple[KeyRow, set[str]]:
        """Create the store key unless one exists, register the wrapping master key
        if the store key is under an available one, and return the store key row
        and every master key id the store's keys are wrapped under.
        """
        ...

    def register_kek(self, kek: str) -> None:
        """Record that keys may now be wrapped under ``kek``."""
        ...

    def select_keks(self) -> set[str]:
        """Every master key id the store's keys may be wrapped under."""
        ...

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
        ...

    def count_key_index(self) -> tuple[int, int]:
        """How many key ids were issued, and how many of them are shredded."""
        ...

    def select_keys_wrapped_by(
        self, kek: str, *, after: UUID | None, limit: int
    ) -> list[tuple[UUID, bytes]]:
        """Key rows wrapped under ``kek``, in id order after ``after``."""
        ...

    def rewrap_keys(self, rows: Sequence[tuple[UUID, str, bytes, str]]) -> int:
        """Replace ``(id, old kek, wrapped, new kek)`` rows still under the old kek."""
        ...

    def count_keys_by_kek(self) -> dict[str, int]:
        """How many key rows each master key wraps."""
        ...

    def retire_kek(self, kek: str) -> bool:
        """Forget a master key id if no key row is wrapped under it any more."""
        ...


def _may_register(store_key: KeyRow, keks: set[str], available: Iterable[str]) -> bool:
    # Only an opener that can unwrap everything may add its master key: a wrong key
    # must never leave a mark that later openers would then require.
    usable = set(available)
    return store_key.kek in usable and keks <= usable


_BATCHABLE = frozenset({"key_changes", "key_index", "heads", "tracking"})


def _batchable(write: tuple[Sequence[StoredEvent], Mapping[str, Any]]) -> bool:
    # eventsourcing passes tracking=None when not processing a notification.
    kwargs = write[1]
    return kwargs.keys() <= _BATCHABLE and kwargs.get("tracking") is None


def _key_changes(kwargs: Mapping[str, Any]) -> Iterable[KeyChange]:
    return kwargs.get("key_changes") or ()


def _index_changes(kwargs: Mapping[str, Any]) -> Iterable[KeyIndexChange]:
    return kwargs.get("key_index") or ()


def _head_changes(kwargs: Mapping[str, Any]) -> Iterable[HeadChange]:
    return kwargs.get("heads") or ()


# The stream's last position comes with the head: a head older than the stream
# (restored from a backup, say) is not trusted, and the stream is replayed instead.
_HEAD_COLUMNS_FROM = (
    "h.version, h.state, k.wrapped, k.kek, "
    "(SELECT max(e.originator_version) FROM {events} e "
    "WHERE e.originator_id = h.id) AS last_version "
    "FROM {heads} h LEFT JOIN {keys} k ON k.id = h.id WHERE h.id "
)
_SELECT_HEAD = "SELECT " + _HEAD_COLUMNS_FROM + "= "
# Several heads at once (for exports): the id comes first in each row.
_SELECT_HEADS = "SELECT h.id, " + _HEAD_COLUMNS_FROM


def _head_row(row: Sequence[Any] | None) -> HeadRow | None:
    return None if row is None else _head(row)


def _head(row: Sequence[Any]) -> HeadRow:
    version, state, wrapped, kek, last_version = row
    key = None if wrapped is None else KeyRow(bytes(wrapped), kek)
    return HeadRow(version, bytes(state), key, last_version)


class RowsInsert:
    """``INSERT ... VALUES (row), (row), ... suffix`` for any number of rows.

    Binding scalars costs a fraction of binding arrays (psycopg inspects every list
    it dumps), and saves are a few rows each; the statement text for each row count
    is composed once.
    """

    _PREPARED_UP_TO = 8

    def __init__(self, prefix: Composed, row: str, suffix: str = "") -> None:
        self._prefix = prefix.as_bytes(None)
        self._row = row.encode()
        self._suffix = suffix.encode()
        self._texts: dict[int, bytes] = {}

    def execute(self, curs: Cursor[Any], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (tuples of the row template's parameters)."""
        count = len(rows)
        text = self._texts.get(count)
        if text is None:
            text = self._prefix + b" VALUES " + b", ".join([self._row] * count)
            text += b" " + self._suffix
            if count <= self._PREPARED_UP_TO:
                self._texts[count] = text
        params = [value for row in rows for value in row]
        curs.execute(text, params, prepare=count <= self._PREPARED_UP_TO)


class SaveStatement:
    """One statement that saves key rows, heads and events, after the events lock.

    Every part selects from the lock's CTE, so no row is written, and no row lock
    taken, before the writer holds the EXCLUSIVE lock on the events table (which
    makes notification id order commit order, as in the base class). A small save
    binds scalars in VALUES rows (binding a list costs more than the rows it holds)
    under a text composed once per shape; a large one binds a column array each.
    """

    _SCALARS_UP_TO = 16

    def __init__(
        self,
        *,
        lock: Identifier,
        keys: Identifier,
        heads: Identifier,
        events: Identifier,
        channel: str,
    ) -> None:
        def text(template: str, *parts: Any) -> bytes:
            return SQL(template).format(*parts).as_bytes(None)

        self._lock = text("WITH l AS MATERIALIZED (SELECT {}(%b))", lock)
        self._parts = (
            (
                text(
                    ", gk AS (DELETE FROM {} USING l WHERE id IN (SELECT * FROM ", keys
                ),
                ("uuid",),
                b"))",
            ),
            (
                text(
                    ", k AS (INSERT INTO {} (id, wrapped, kek) SELECT v.* FROM l, ",
                    keys,
                ),
                ("uuid", "bytea", "text"),
                b")",
            ),
            (
                text(
                    ", gh AS (DELETE FROM {} USING l WHERE id IN (SELECT * FROM ", heads
                ),
                ("uuid",),
                b"))",
            ),
            (
                text(
                    ", h AS (INSERT INTO {} AS h (id, version, state) SELECT v.* "
                    "FROM l, ",
                    heads,
                ),
                ("uuid", "bigint", "bytea"),
                b" ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, "
                b"state = EXCLUDED.state WHERE h.version < EXCLUDED.version)",
            ),
            (
                text(
                    ", n AS (SELECT pg_notify({}, '') FROM l) INSERT INTO {} "
                    "(originator_id, originator_version, topic, state) SELECT v.* "
                    "FROM n, ",
                    Literal(channel),
                    events,
                ),
                ("uuid", "bigint", "text", "bytea"),
                b" RETURNING notification_id",
            ),
        )
        self._texts: dict[tuple[int, ...], bytes] = {}

    def compose(
        self,
        lock_timeout: str,
        *,
        gone_keys: Sequence[UUID],
        keys: Sequence[tuple[UUID, bytes, str | None]],
        gone_heads: Sequence[UUID],
        heads: Sequence[tuple[UUID, int, bytes]],
        events: Sequence[tuple[Any, int, str, bytes]],
    ) -> tuple[bytes, list[Any], bool]:
        """The statement's text, its parameters, and whether to prepare it."""
        parts: tuple[Sequence[Sequence[Any]], ...] = (
            [(i,) for i in gone_keys],
            keys,
            [(i,) for i in gone_heads],
            heads,
            events,
        )
        params: list[Any] = [lock_timeout]
        small = max(len(rows) for rows in parts) <= self._SCALARS_UP_TO
        if small:
            shape = tuple(len(rows) for rows in parts)
            for rows in parts:
                params.extend(value for row in rows for value in row)
        else:
            # -1: present, bound as arrays (one text per set of parts present).
            shape = tuple(-1 if rows else 0 for rows in parts)
            for rows in parts:
                if rows:
                    params.extend(list(column) for column in zip(*rows, strict=True))
        text = self._texts.get(shape)
        if text is None:
            text = self._texts[shape] = self._compose(shape)
        return text, params, small

    def _compose(self, shape: tuple[int, ...]) -> bytes:
        out = [self._lock]
        for count, (prefix, types, suffix) in zip(shape, self._parts, strict=True):
            if count == 0:
                continue
            if count < 0:
                arrays = ", ".join(f"%b::{t}[]" for t in types).encode()
                source = b"unnest(" + arrays + b") AS v"
            else:
                row = ("(" + ", ".join(f"%b::{t}" for t in types) + ")").encode()
                source = b"(VALUES " + b", ".join([row] * count) + b") AS v"
            out += [prefix, source, suffix]
        return b"".join(out)


class LockWaitTimeoutError(PersistenceError):
    """A lock was not granted within the lock timeout: the statement changed nothing.

    Not an OperationalError, so eventsourcing's retries (ten of them) don't make a
    caller wait ten lock timeouts.
    """


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a lock or pool wait that timed out."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, LockWaitTimeoutError | LockNotAvailable | PoolTimeout):
            return True
        if isinstance(seen, sqlite3.OperationalError) and "locked" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class CommitOutcomeUnknownError(PersistenceError):
    """The connection broke after a save was sent: it may have committed or not.

    Not an OperationalError, so nothing retries it (a retry could write twice).
    """


def _raise_if_broken(conn: psycopg.Connection[Any], error: BaseException) -> None:
    """CommitOutcomeUnknownError if ``conn`` broke while a save on it was in flight."""
    if conn.broken:
        msg = "the connection broke while a save was committing"
        raise CommitOutcomeUnknownError(msg) from error


@contextmanager
def translated_errors() -> Iterator[None]:
    """psycopg's errors as eventsourcing's, as the datastore's connections raise them."""
    try:
        yield
    except psycopg.Error as exc:
        for psycopg_error, persistence_error in _TRANSLATED:
            if isinstance(exc, psycopg_error):
                raise persistence_error(str(exc)) from exc
        raise PersistenceError(str(exc)) from exc


_TRANSLATED: tuple[tuple[type[psycopg.Error], type[PersistenceError]], ...] = (
    (psycopg.InterfaceError, InterfaceError),
    (LockNotAvailable, LockWaitTimeoutError),
    (psycopg.OperationalError, OperationalError),
    (psycopg.DataError, DataError),
    (psycopg.IntegrityError, IntegrityError),
    (psycopg.InternalError, InternalError),
    (psycopg.ProgrammingError, ProgrammingError),
    (psycopg.NotSupportedError, NotSupportedError),
    (psycopg.DatabaseError, DatabaseError),
)


def bound_lock_waits(datastore: PostgresDatastore) -> None:
    """Give every connection the datastore opens the lock timeout, for its session.

    A statement takes the locks of the tables it names as it starts, before
    anything it runs could set a timeout; eventsourcing's SET LOCAL covers only its
    own transactions.
    """
    kwargs = datastore.pool.kwargs
    assert isinstance(kwargs, dict)
    kwargs["options"] = f"-c lock_timeout={datastore.lock_timeout}s"


class KeptConnections:
    """A few autocommit connections kept beside the shared pool, with tuple rows.

    A point read or a save is one round trip; taking a connection from the pool and
    giving it back cost a third as much again. Idle connections wait on a stack
    (deque appends and pops are atomic); beyond ``limit`` at once, the pool serves.
    """

    def __init__(self, datastore: PostgresDatastore, *, limit: int) -> None:
        self._datastore = datastore
        pool_kwargs = datastore.pool.kwargs
        assert isinstance(pool_kwargs, dict)
        self._connect_kwargs = {
            key: val for key, val in pool_kwargs.items() if key != "row_factory"
        }
        self._idle: collections.deque[psycopg.Connection[Any]] = collections.deque()
        self._opened = 0
        self._opened_lock = threading.Lock()
        self._limit = limit
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for the duration of one operation; errors as eventsourcing's."""
        conn: psycopg.Connection[Any] | None
        try:
            conn = self._idle.pop()
        except IndexError:
            with translated_errors():
                conn = self._open()
        if conn is None:
            with self._datastore.get_connection() as pooled:
                yield pooled
            return
        try:
            with translated_errors():
                yield conn
        except BaseException:
            # Its state is unknown (a dropped connection, say): don't reuse it.
            with self._opened_lock:
                self._opened -= 1
            conn.close()
            raise
        if self._closed:
            conn.close()
        else:
            self._idle.append(conn)

    def _open(self) -> psycopg.Connection[Any] | None:
        with self._opened_lock:
            if self._closed or self._opened >= self._limit:
                return None
            self._opened += 1
        try:
            return psycopg.connect(
                autocommit=True,
                row_factory=tuple_row,
                connect_timeout=10,
                **self._connect_kwargs,
            )
        except BaseException:
            with self._opened_lock:
                self._opened -= 1
            raise

    def close(self) -> None:
        """Close the idle connections; busy ones close when given back (idempotent)."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()


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
        self._notify = (
            SQL("NOTIFY {}").format(Identifier(self.channel_name)).as_bytes(None)
        )
        self._insert_stored = RowsInsert(
            SQL(
                "INSERT INTO {}.{} (originator_id, originator_version, topic, state)"
            ).format(
                Identifier(self.datastore.schema), Identifier(self.events_table_name)
            ),
            "(%b, %b, %b, %b)",
            "RETURNING notification_id",
        )
        schema = Identifier(self.datastore.schema)

        def sql(text: str) -> Composed:
            return SQL(text).format(
                keys=SQL("{}.{}").format(schema, Identifier(KEYS_TABLE)),
                index=SQL("{}.{}").format(schema, Identifier(KEY_INDEX_TABLE)),
                meta=SQL("{}.{}").format(schema, Identifier(META_TABLE)),
                counters=SQL("{}.{}").format(schema, Identifier("strongroom_counters")),
                heads=SQL("{}.{}").format(schema, Identifier(HEADS_TABLE)),
                events=SQL("{}.{}").format(schema, Identifier(self.events_table_name)),
                kek_index=Identifier(KEYS_TABLE + "_kek_idx"),
            )

        self.sql_create_statements.extend(
            [
                sql(
                    "CREATE TABLE IF NOT EXISTS {keys} ("
                    "id uuid PRIMARY KEY, wrapped bytea NOT NULL, kek text NOT NULL)"
                ),
                sql("CREATE INDEX IF NOT EXISTS {kek_index} ON {keys} (kek, id)"),
                sql(
                    "CREATE TABLE IF NOT EXISTS {index} ("
                    "idx bigint PRIMARY KEY, id uuid NOT NULL UNIQUE, "
                    "key_id bytea NOT NULL, deleted boolean NOT NULL DEFAULT false)"
                ),
                sql(
                    "CREATE TABLE IF NOT EXISTS {meta} ("
                    "name text PRIMARY KEY, value bytea NOT NULL)"
                ),
                sql(
                    "CREATE TABLE IF NOT EXISTS {counters} ("
                    "name text PRIMARY KEY, value bigint NOT NULL)"
                ),
                sql(
                    "CREATE TABLE IF NOT EXISTS {heads} ("
                    "id uuid PRIMARY KEY, version bigint NOT NULL, state bytea NOT NULL)"
                ),
            ]
        )
        self._put_heads = RowsInsert(
            sql("INSERT INTO {heads} AS h (id, version, state)"),
            "(%b, %b::bigint, %b)",
            "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, "
            "state = EXCLUDED.state WHERE h.version < EXCLUDED.version",
        )
        self._delete_heads = sql("DELETE FROM {heads} WHERE id = ANY(%b)")
        # A save without key-index changes (every secret write) is one statement:
        # its own transaction under autocommit, where eight pipelined statements
        # cost three times the client CPU, and a create's CPU limits throughput.
        lock = Identifier(self.datastore.schema, self.events_table_name + "_lock")
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {lock}(p_timeout text) RETURNS void "
                "LANGUAGE plpgsql AS $body$ BEGIN "
                "PERFORM set_config('lock_timeout', p_timeout, true); "
                "LOCK TABLE {events} IN EXCLUSIVE MODE; END $body$"
            ).format(
                lock=lock,
                events=Identifier(self.datastore.schema, self.events_table_name),
            )
        )
        self._save = SaveStatement(
            lock=lock,
            keys=Identifier(self.datastore.schema, KEYS_TABLE),
            heads=Identifier(self.datastore.schema, HEADS_TABLE),
            events=Identifier(self.datastore.schema, self.events_table_name),
            channel=self.channel_name,
        )
        self._lock_timeout = f"{self.datastore.lock_timeout}s"
        self._select_head = sql(_SELECT_HEAD + "%b").as_bytes(None)
        self._select_heads = sql(_SELECT_HEADS + "= ANY(%s)")
        # Key changes are written in one statement per kind per save, whatever their
        # number: a round trip per key made bulk imports slow.
        self._insert_keys = RowsInsert(
            sql("INSERT INTO {keys} (id, wrapped, kek)"), "(%b, %b, %b)"
        )
        self._delete_keys = sql("DELETE FROM {keys} WHERE id = ANY(%s)")
        self._select_keys = sql(
            "SELECT id, wrapped, kek FROM {keys} WHERE id = ANY(%s)"
        )
        # Each issued id gets idx = max(previous + 1, wanted). The counter row stays
        # locked to commit, so idx order is commit order: a reader paging by idx can
        # never miss an id committed after its page.
        self._issue_key_ids = sql(
            "WITH c AS (SELECT value FROM {counters} WHERE name = '" + _KEY_IDX + "' "
            "FOR UPDATE), "
            "v AS (SELECT u.id, u.key_id, u.deleted, greatest(c.value + u.ord, "
            "max(u.wanted - u.ord) OVER (ORDER BY u.ord) + u.ord) AS idx "
            "FROM c, unnest(%b::uuid[], %b::bytea[], %s::bool[], %s::bigint[]) "
            "WITH ORDINALITY AS u(id, key_id, deleted, wanted, ord)), "
            "ins AS (INSERT INTO {index} (idx, id, key_id, deleted) "
            "SELECT idx, id, key_id, deleted FROM v RETURNING idx) "
            "UPDATE {counters} SET value = (SELECT max(idx) FROM ins) "
            "WHERE name = '" + _KEY_IDX + "'"
        )
        self._shred_key_ids = sql(
            "UPDATE {index} SET deleted = true WHERE id = ANY(%s)"
        )
        self._insert_store_key = sql(
            "INSERT INTO {keys} (id, wrapped, kek) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING"
        )
        self._insert_counter = sql(
            "INSERT INTO {counters} (name, value) VALUES (%s, 0) ON CONFLICT DO NOTHING"
        )
        self._insert_meta = sql(
            "INSERT INTO {meta} (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        )
        self._select_keks = sql("SELECT name FROM {meta} WHERE name LIKE 'kek:%%'")
        self._select_index = {
            (with_ids, deleted): sql(
                "SELECT i.idx, i.id, i.key_id, k.wrapped, k.kek FROM {index} i "
                "LEFT JOIN {keys} k ON k.id = i.id WHERE i.idx >= %s"
                + (" AND i.id = ANY(%s)" if with_ids else "")
                + ("" if deleted else " AND NOT i.deleted")
                + " ORDER BY i.idx LIMIT %s OFFSET %s"
            )
            for with_ids in (False, True)
            for deleted in (False, True)
        }
        self._count_index = sql(
            "SELECT count(*) AS total, count(*) FILTER (WHERE deleted) AS deleted "
            "FROM {index}"
        )
        self._select_by_kek = {
            first: sql(
                "SELECT id, wrapped FROM {keys} WHERE kek = %s AND id "
                + (">=" if first else ">")
                + " %s ORDER BY id LIMIT %s"
            )
            for first in (True, False)
        }
        self._rewrap = sql(
            "UPDATE {keys} AS k SET wrapped = v.wrapped, kek = %s "
            "FROM unnest(%b::uuid[], %b::bytea[]) AS v(id, wrapped) "
            "WHERE k.id = v.id AND k.kek = %s"
        )
        self._count_by_kek = sql("SELECT kek, count(*) AS n FROM {keys} GROUP BY kek")
        self._retire = sql(
            "DELETE FROM {meta} WHERE name = %s "
            "AND NOT EXISTS (SELECT 1 FROM {keys} WHERE kek = %s)"
        )

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
        text, params, prepare = self._save.compose(
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

    def _insert_stored_events(
        self, curs: Cursor[Any], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        curs.execute(self._notify)
        self._insert_stored.execute(
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
            curs.execute(self._delete_keys, (deletes,), prepare=True)
        if inserts:
            self._insert_keys.execute(
                curs, [(c.key_id, c.wrapped, c.kek) for c in inserts]
            )
        items = list(_index_changes(kwargs))
        issued = [i for i in items if i.sealed_key_id is not None]
        if shredded := [i.id for i in items if i.sealed_key_id is None]:
            curs.execute(self._shred_key_ids, (shredded,), prepare=True)
        if issued:
            curs.execute(
                self._issue_key_ids,
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
            curs.execute(self._delete_heads, (gone,), prepare=True)
        if put := [(h.id, h.version, h.state) for h in heads if h.state is not None]:
            self._put_heads.execute(curs, put)
        super()._insert_events(curs, stored_events, **kwargs)

    @retry((InterfaceError, OperationalError), max_attempts=3, wait=0.1)
    def select_head(self, aggregate_id: UUID) -> HeadRow | None:
        """An aggregate's head with its data key, in one query; None if it has none."""
        with (
            self.readers.connection() as conn,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            curs.execute(self._select_head, (aggregate_id,), prepare=True)
            return _head_row(curs.fetchone())

    def select_heads(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, HeadRow]:
        """The heads (with data keys) of those of ``aggregate_ids`` that have one."""
        with (
            self.readers.connection() as conn,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            curs.execute(self._select_heads, (list(aggregate_ids),), prepare=True)
            return {row[0]: _head(row[1:]) for row in curs}

    def close(self) -> None:
        """Close the kept connections."""
        self.readers.close()
        self._writer.close()

    def select_wrapped_keys(self, key_ids: Sequence[UUID]) -> dict[UUID, KeyRow]:
        """Wrapped keys of the given ids that exist."""
        if not key_ids:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_keys, (list(key_ids),), prepare=True)
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
                self._insert_store_key,
                (store_key.key_id, store_key.wrapped, store_key.kek),
            )
            curs.execute(self._insert_counter, (_KEY_IDX,))
            curs.execute(self._select_keys, ([store_key.key_id],))
            row = curs.fetchone()
            assert row is not None
            found = KeyRow(bytes(row["wrapped"]), row["kek"])
            curs.execute(self._select_keks)
            keks = {r["name"][len(KEK_PREFIX) :] for r in curs.fetchall()}
            if _may_register(found, keks, available):
                curs.execute(self._insert_meta, (KEK_PREFIX + str(store_key.kek), b""))
                keks.add(str(store_key.kek))
        return found, keks

    def register_kek(self, kek: str) -> None:
        """Record that keys may now be wrapped under ``kek``."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._insert_meta, (KEK_PREFIX + kek, b""))

    def select_keks(self) -> set[str]:
        """Every master key id the store's keys may be wrapped under."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_keks)
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
        statement = self._select_index[ids is not None, include_deleted]
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
            curs.execute(self._count_index)
            row = curs.fetchone()
            assert row is not None
            return int(row["total"]), int(row["deleted"])

    def select_keys_wrapped_by(
        self, kek: str, *, after: UUID | None, limit: int
    ) -> list[tuple[UUID, bytes]]:
        """Key rows wrapped under ``kek``, in id order after ``after``."""
        statement = self._select_by_kek[after is None]
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
                curs.execute(self._rewrap, (new, ids, blobs, old))
                changed += curs.rowcount
        return changed

    def count_keys_by_kek(self) -> dict[str, int]:
        """How many key rows each master key wraps."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._count_by_kek)
            return {row["kek"]: int(row["n"]) for row in curs.fetchall()}

    def retire_kek(self, kek: str) -> bool:
        """Forget a master key id if no key row is wrapped under it any more."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._retire, (KEK_PREFIX + kek, kek))
            return curs.rowcount > 0


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

    def select_head(self, aggregate_id: UUID) -> HeadRow | None:
        """An aggregate's head with its data key, in one query; None if it has none."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_head, (aggregate_id.hex,))
            return _head_row(c.fetchone())

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


def _chunks(items: Sequence[UUID], size: int) -> Iterable[Sequence[UUID]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
