"""Connections kept open for saves and point reads: cheaper than the pool on the
hot paths (measured), and each carries the lock timeout for its whole session."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg import sql
from psycopg.rows import tuple_row

if TYPE_CHECKING:
    pass

from strongroom.infrastructure.recorders.postgres_errors import (
    translated,
    translated_errors,
)


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
        # One cursor kept per connection for ``fetch_one``: making one per read
        # costs more than the rest of the read's Python.
        self._cursors: dict[psycopg.Connection[Any], psycopg.Cursor[Any]] = {}
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
            self._discard(conn)
            raise
        self._give_back(conn)

    def listener(self, channel: str) -> LogSignal:
        """A signal of ``channel``'s notifications, on a connection of its own."""
        return LogSignal(self._connect_kwargs, channel)

    def fetch_one(
        self, statement: bytes, params: Sequence[Any]
    ) -> tuple[Any, ...] | None:
        """The first row of a prepared statement: the point reads' path.

        No context managers: at a point read's 150 µs their entries and exits
        were measurable.
        """
        try:
            conn = self._idle.pop()
        except IndexError:
            with (
                self.connection() as pooled,
                pooled.cursor(row_factory=tuple_row) as pooled_cursor,
            ):
                pooled_cursor.execute(statement, params, prepare=True)
                return pooled_cursor.fetchone()
        try:
            kept = self._cursors.get(conn)
            if kept is None:
                kept = self._cursors[conn] = conn.cursor()
            kept.execute(statement, params, prepare=True)
            row: tuple[Any, ...] | None = kept.fetchone()
        except psycopg.Error as exc:
            self._discard(conn)
            raise translated(exc) from exc
        except BaseException:
            self._discard(conn)
            raise
        self._give_back(conn)
        return row

    def _give_back(self, conn: psycopg.Connection[Any]) -> None:
        if self._closed:
            self._cursors.pop(conn, None)
            conn.close()
        else:
            self._idle.append(conn)

    def _discard(self, conn: psycopg.Connection[Any]) -> None:
        # Its state is unknown (a dropped connection, say): don't reuse it.
        with self._opened_lock:
            self._opened -= 1
        self._cursors.pop(conn, None)
        conn.close()

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
            conn = self._idle.pop()
            self._cursors.pop(conn, None)
            conn.close()


class LogSignal:
    """Wakes a watcher when a write may have committed: LISTEN on the recorder's
    channel, which every save notifies in its transaction.

    It holds a connection of its own: a pooled one would be kept for as long as
    the watch lasts. A dropped connection is opened again at the next wait.
    """

    def __init__(self, connect_kwargs: dict[str, Any], channel: str) -> None:
        self._connect_kwargs = connect_kwargs
        self._listen = sql.SQL("LISTEN {}").format(sql.Identifier(channel))
        self._conn: psycopg.Connection[Any] | None = None
        self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        with translated_errors():
            conn = psycopg.connect(
                autocommit=True, connect_timeout=10, **self._connect_kwargs
            )
            conn.execute(self._listen)
        self._conn = conn
        return conn

    def wait(self, timeout: float) -> bool:
        """Whether a notification came within ``timeout`` seconds (or may have)."""
        conn = self._conn or self._connect()
        try:
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                return True
        except psycopg.OperationalError:
            # Whatever committed while it was down is read by the caller's next
            # page, so the wake is reported and the connection opened again.
            conn.close()
            self._conn = None
            return True
        return False

    def close(self) -> None:
        """Close its connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
