"""Group commit: concurrent callers' writes committed together, one transaction each batch.

A commit costs a round trip and a WAL flush whatever it holds, so under concurrency
many small transactions are slower than a few larger ones. Callers hand their write
to ``GroupCommit.submit``; whoever finds no batch in flight leads: it takes every
write queued so far, commits them as one batch, gives each caller its own result,
and hands the lead to the first caller that queued meanwhile. A lone caller leads
its own one-write batch at once, with no thread hand-off; after a shared batch the
next leader waits up to half a millisecond for others to join.

A batch that fails is retried one write per transaction, so each caller gets its
own result or its own error (a lost race on one name never fails another's write).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

W = TypeVar("W")
R = TypeVar("R")

_WAITING, _LEAD, _DONE = 0, 1, 2
_GATHER_SECONDS = 0.0005


class _Entry(Generic[W, R]):
    __slots__ = ("error", "item", "result", "state", "wake")

    def __init__(self, item: W) -> None:
        self.item = item
        self.state = _WAITING
        self.result: R | None = None
        self.error: BaseException | None = None
        # A held lock as a one-shot signal: cheaper to make than an Event, and a
        # lone caller never waits on it. Each release pairs with one acquire.
        self.wake = threading.Lock()
        self.wake.acquire()


class GroupCommit(Generic[W, R]):
    """Commits submitted writes in batches; see the module docstring.

    ``commit(items)`` writes a batch in one transaction and returns one result per
    item, or raises. ``batchable(item)`` says whether an item may share a batch;
    ``retry_alone(error)`` whether a failed batch's items may be written again one
    at a time (not when the batch may have committed).
    """

    def __init__(
        self,
        commit: Callable[[Sequence[W]], Sequence[R]],
        *,
        batchable: Callable[[W], bool] = lambda _: True,
        retry_alone: Callable[[BaseException], bool] = lambda _: True,
        max_batch: int = 256,
    ) -> None:
        self._commit = commit
        self._batchable = batchable
        self._retry_alone = retry_alone
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Entry[W, R]] = []
        self._busy = False
        self._last_batch = 1

    def submit(self, item: W) -> R:
        """Write ``item`` (maybe with others' writes) and return its result."""
        entry: _Entry[W, R] = _Entry(item)
        with self._lock:
            self._queue.append(entry)
            lead = not self._busy
            self._busy = True
        if not lead:
            entry.wake.acquire()
        elif self._last_batch > 1:
            self._gather(self._last_batch // 2)
        if entry.state != _DONE:
            self._lead()
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]

    def _gather(self, wanted: int) -> None:
        # Right after a shared batch, a leader that went at once would commit alone
        # while the rest piled into the next batch, and while that one waited on
        # the server no thread would have work for the GIL. A moment's wait (at
        # most half a millisecond; never for a lone writer) keeps batches full.
        deadline = time.monotonic() + _GATHER_SECONDS
        while len(self._queue) < wanted and time.monotonic() < deadline:
            time.sleep(0)

    def _lead(self) -> None:
        with self._lock:
            # The leader's own entry is first in the queue.
            batch = [self._queue[0]]
            if self._batchable(batch[0].item):
                for entry in self._queue[1:]:
                    if len(batch) >= self._max_batch:
                        break
                    if self._batchable(entry.item):
                        batch.append(entry)
            taken = {id(entry) for entry in batch}
            self._queue = [entry for entry in self._queue if id(entry) not in taken]
        self._last_batch = len(batch)
        try:
            self._run(batch)
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.state = _LEAD
                    successor.wake.release()
                else:
                    self._busy = False

    def _run(self, batch: list[_Entry[W, R]]) -> None:
        try:
            results = self._commit([entry.item for entry in batch])
        except BaseException as exc:  # noqa: BLE001 - every error goes to its callers
            if len(batch) == 1 or not self._retry_alone(exc):
                for entry in batch:
                    # Each caller raises its own copy (tracebacks grow on raise).
                    self._finish(
                        entry, None, exc if entry is batch[0] else copy.copy(exc)
                    )
                return
            # One write spoilt the batch: each write on its own tells whose it was.
            for entry in batch:
                try:
                    (result,) = self._commit([entry.item])
                except BaseException as own:  # noqa: BLE001 - handed to its caller
                    self._finish(entry, None, own)
                else:
                    self._finish(entry, result, None)
            return
        for entry, result in zip(batch, results, strict=True):
            self._finish(entry, result, None)

    @staticmethod
    def _finish(entry: _Entry[W, R], result: Any, error: BaseException | None) -> None:
        entry.result = result
        entry.error = error
        entry.state = _DONE
        entry.wake.release()
