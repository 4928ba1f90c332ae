"""Database failures as strongroom errors, at the face of the library.

eventsourcing and psycopg raise their own errors when the server is unreachable
or drops a connection; callers of strongroom get ``StoreUnavailableError`` (nothing
changed), ``StoreBusyError`` (a lock wait timed out; nothing changed) or
``CommitUnknownError`` (a write may have committed), with messages that carry
nothing from the driver.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from eventsourcing.persistence import InterfaceError, OperationalError

from strongroom.domain.errors import (
    CommitUnknownError,
    StoreBusyError,
    StoreUnavailableError,
)
from strongroom.infrastructure.recorders import (
    CommitOutcomeUnknownError,
    LockWaitTimeoutError,
    is_busy,
)

C = TypeVar("C", bound=type)

_UNAVAILABLE = (
    "the database is unavailable: it could not be reached, or dropped the connection"
)
_BUSY = (
    "the database is busy: a lock or a connection was not granted in time; "
    "nothing changed, and retrying later is safe"
)
_UNKNOWN = (
    "the connection was lost while the write was committing: it may or may not have "
    "been made; retry with the same request_id to find out without writing twice"
)


_STORE_ERRORS = (
    OperationalError,
    InterfaceError,
    CommitOutcomeUnknownError,
    LockWaitTimeoutError,
)


def _translate(error: BaseException) -> StoreUnavailableError:
    if isinstance(error, CommitOutcomeUnknownError):
        return CommitUnknownError(_UNKNOWN)
    if is_busy(error):
        return StoreBusyError(_BUSY)
    return StoreUnavailableError(_UNAVAILABLE)


@contextlib.contextmanager
def translated_store_errors() -> Iterator[None]:
    """Raise strongroom's store errors inside (for iterators that outlive a call)."""
    try:
        yield
    except _STORE_ERRORS as exc:
        raise _translate(exc) from None


def _streamed(items: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from items
    except _STORE_ERRORS as exc:
        raise _translate(exc) from None


def _wrapped(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            result = func(*args, **kwargs)
        except _STORE_ERRORS as exc:
            raise _translate(exc) from None
        return _streamed(result) if inspect.isgenerator(result) else result

    return call


def translate_store_errors(cls: C) -> C:
    """Make every public method of ``cls`` raise strongroom's store errors."""
    for name, attr in list(vars(cls).items()):
        if name.startswith("_"):
            continue
        if isinstance(attr, classmethod):
            setattr(cls, name, classmethod(_wrapped(attr.__func__)))
        elif inspect.isfunction(attr):
            setattr(cls, name, _wrapped(attr))
    return cls
