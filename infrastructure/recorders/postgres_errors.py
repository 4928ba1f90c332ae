"""PostgreSQL failures as strongroom's persistence errors: lock waits that timed out,
commits whose outcome is unknown, and the lock timeout every connection carries."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

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
from eventsourcing.postgres import PostgresDatastore
from psycopg.errors import LockNotAvailable
from psycopg_pool import PoolTimeout

if TYPE_CHECKING:
    pass


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
        raise translated(exc) from exc


def translated(exc: psycopg.Error) -> PersistenceError:
    """eventsourcing's error for a psycopg error (raise it ``from`` the original)."""
    for psycopg_error, persistence_error in _TRANSLATED:
        if isinstance(exc, psycopg_error):
            return persistence_error(str(exc))
    return PersistenceError(str(exc))


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
