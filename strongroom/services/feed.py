"""The change feed: committed changes to secrets in log order, read from the
audit index (metadata only, never a value); a watch waits on the log's signal
(LISTEN/NOTIFY on PostgreSQL, a cheap poll of the log's end on SQLite) instead
of re-reading values."""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Self

from strongroom.domain import validation as check
from strongroom.domain.results import Action, Change, ChangePage
from strongroom.projections.rows import AuditFilter
from strongroom.services.base import MAX_PAGE, LogSignal, Service

WAIT_SLICE = 0.25
"""Seconds a watch waits on the signal before looking whether it was closed."""


class Feed(Service):
    """``changes`` and ``watch`` over the audit index."""

    def changes(
        self,
        after: int | None = None,
        *,
        namespace: str | None = None,
        prefix: str | None = None,
        limit: int = 100,
    ) -> ChangePage:
        """Changes after log position ``after`` (default: from the start)."""
        filters, start = self._checked(after, namespace, prefix)
        limit = check.check_count(limit, "limit", minimum=1, maximum=MAX_PAGE)
        return self._page(filters, start, limit)

    def position(self) -> int:
        """The log's last position: changes after it are yet to come."""
        return self._store.log.max_notification_id() or 0

    def watch(
        self,
        after: int | None = None,
        *,
        namespace: str | None = None,
        prefix: str | None = None,
        guard: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
    ) -> ChangeWatch:
        """Changes as they commit, after ``after`` (default: from now on).

        Each step of the iteration runs inside ``guard()`` (the face's error
        translation: the iterator outlives the call that made it).
        """
        filters, start = self._checked(after, namespace, prefix)
        signal = self._store.log.log_signal()
        if after is None:
            # Taken after the signal listens: nothing committed in between is lost.
            start = self.position()
        return ChangeWatch(
            lambda position: self._page(filters, position, MAX_PAGE),
            start,
            signal,
            guard,
        )

    def _checked(
        self, after: int | None, namespace: str | None, prefix: str | None
    ) -> tuple[AuditFilter, int]:
        filters = AuditFilter(
            namespace=check.check_namespace(namespace),
            prefix=check.check_optional_label(prefix or None, "prefix"),
            changes_only=True,
        )
        start = 0 if after is None else check.check_count(after, "after")
        return filters, start

    def _page(self, filters: AuditFilter, after: int, limit: int) -> ChangePage:
        self._catch_up.run()
        reached = self._catch_up.reached
        rows = self._view.audit_rows(filters, after, limit)
        changes = tuple(
            Change(
                position=row.position,
                at=row.at,
                action=Action(row.action),
                secret_id=row.secret_id,
                name=name,
                namespace=ns,
                version=row.version,
                actor=row.actor,
            )
            for row, name, ns in rows
        )
        # A short page holds every match up to the projected position, so the
        # next page may start there (past reveals and other namespaces' changes).
        position = changes[-1].position if changes else after
        if len(changes) < limit:
            position = max(position, reached)
        return ChangePage(changes=changes, position=position)


class ChangeWatch(Iterator[Change]):
    """An endless iterator of changes as they commit; ``close`` ends it from any
    thread (within a quarter of a second), and so does leaving a ``with`` block."""

    def __init__(
        self,
        read: Callable[[int], ChangePage],
        after: int,
        signal: LogSignal,
        guard: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self._read_after = read
        self._guard = guard
        self._signal = signal
        self._buffer: collections.deque[Change] = collections.deque()
        self._closed = threading.Event()
        self._waiting = threading.Lock()
        self.position = after
        """The position after the last change handed out (resume from here)."""
        self._read = after
        self._stale = True

    def __next__(self) -> Change:
        with self._guard():
            return self._next()

    def _next(self) -> Change:
        while True:
            if self._buffer:
                change = self._buffer.popleft()
                self.position = change.position
                return change
            if self._closed.is_set():
                self._release()
                raise StopIteration
            if self._stale:
                page = self._read_after(self._read)
                self._read = page.position
                if page.changes:
                    self._buffer.extend(page.changes)
                    continue
                self.position = max(self.position, page.position)
            with self._waiting:
                # The log is read again only when the signal says it may have grown.
                if not self._closed.is_set():
                    self._stale = self._signal.wait(WAIT_SLICE)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the watch: its iteration stops, its listening connection closes."""
        self._closed.set()
        # If no thread is waiting on the signal now, release it here; otherwise
        # the waiting thread does on its way out.
        if self._waiting.acquire(blocking=False):
            try:
                self._signal.close()
            finally:
                self._waiting.release()

    def _release(self) -> None:
        with self._waiting:
            self._signal.close()


class Follower:
    """Follows the log on a thread of its own until closed, handing each change
    to ``deliver``; a watch that fails (the database went away) is opened again
    from where it got to, a second later, for as long as ``failed(error)`` says
    to go on. What ``strongroom run --watch`` and the HTTP feed both need."""

    RETRY_SECONDS = 1.0

    def __init__(
        self,
        watch: Callable[[int | None], ChangeWatch],
        deliver: Callable[[Change], None],
        *,
        after: int | None = None,
        failed: Callable[[BaseException], bool] = lambda _: True,
    ) -> None:
        self._watch = watch
        self._deliver = deliver
        self._position = after
        self._failed = failed
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._current: ChangeWatch | None = None
        self._thread = threading.Thread(
            target=self._follow, name="strongroom-follower", daemon=True
        )

    def start(self) -> Self:
        """Start following (once)."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop following: the current watch is closed from here."""
        with self._lock:
            self._done.set()
            current = self._current
        if current is not None:
            current.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _follow(self) -> None:
        while not self._done.is_set():
            try:
                with self._lock:
                    if self._done.is_set():
                        return
                    self._current = watch = self._watch(self._position)
                with watch:
                    self._position = watch.position
                    for change in watch:
                        self._position = change.position
                        self._deliver(change)
            except Exception as exc:  # noqa: BLE001 - it outlives any failure
                if self._done.is_set() or not self._failed(exc):
                    return
                self._done.wait(self.RETRY_SECONDS)
