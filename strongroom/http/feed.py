"""``GET /api/v1/secrets/changes``: the change feed as Server-Sent Events, or one
JSON page for polling clients.

One thread per server process follows the log (``sm.watch()``, one listening
connection) and wakes every open stream; each stream then reads its own page of
changes, filtered by its token's namespace, in the threadpool. A stream holds no
thread while it waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from strongroom import (
    Change,
    ChangePage,
    SecretsManager,
)
from strongroom.domain import validation as check
from strongroom.http.auth import Read
from strongroom.http.middleware import PREFIX
from strongroom.http.params import ERRORS, LabelQuery, NamespaceQuery
from strongroom.http.schemas import ChangeOut, ChangePageOut
from strongroom.http.views import answer
from strongroom.services.feed import Follower

router = APIRouter()

HEARTBEAT_SECONDS = 15.0
"""A comment line this often keeps proxies from closing an idle stream."""
PAGE = 100


def change_out(change: Change) -> ChangeOut:
    """The wire form of a change."""
    return ChangeOut(
        position=change.position,
        at=change.at,
        action=str(change.action),
        secret_id=change.secret_id,
        name=change.name,
        namespace=change.namespace,
        version=change.version,
        actor=change.actor,
    )


class LogFollower:
    """Wakes the streams of one server process when a change commits: one
    ``Follower`` (one listening connection) however many streams are open."""

    def __init__(self, sm: SecretsManager) -> None:
        self._sm = sm
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()
        self._follower: Follower | None = None
        self.ending = False
        """Set when the server stops: open streams end their responses."""
        _FOLLOWERS.add(self)

    def end_streams(self) -> None:
        """End the open streams cleanly: each completes its response."""
        self.ending = True
        self._wake_all()

    def subscribe(self, event: asyncio.Event) -> None:
        """Set ``event`` (on the running loop) at each commit until unsubscribed."""
        with self._lock:
            self._waiters.add((asyncio.get_running_loop(), event))
            if self._follower is None:
                self._follower = Follower(
                    self._sm.watch,
                    lambda _: self._wake_all(),
                    failed=self._failed,
                ).start()

    def unsubscribe(self, event: asyncio.Event) -> None:
        """Stop waking ``event``."""
        with self._lock:
            self._waiters = {w for w in self._waiters if w[1] is not event}

    def close(self) -> None:
        """Stop following (the server is stopping)."""
        with self._lock:
            follower = self._follower
        if follower is not None:
            follower.close()

    def _wake_all(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # its loop has closed
                loop.call_soon_threadsafe(event.set)

    def _failed(self, _: BaseException) -> bool:
        if self._sm.closed:
            return False  # the server stopped under the watch: nothing to say
        # The database went away: the streams read again (and fail or go on)
        # while the follower waits and follows once more.
        self._wake_all()
        return True


_FOLLOWERS: weakref.WeakSet[LogFollower] = weakref.WeakSet()


def end_streams() -> None:
    """End every open change stream of this process (the server is stopping)."""
    for follower in list(_FOLLOWERS):
        follower.end_streams()


def _follower(request: Request) -> LogFollower:
    follower: LogFollower = request.app.state.feed_follower
    return follower


def _sse(change: Change) -> bytes:
    data = change_out(change).model_dump_json(exclude_none=True)
    return f"id: {change.position}\nevent: change\ndata: {data}\n\n".encode()


@router.get(
    PREFIX + "/changes",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "model": ChangePageOut,
            "description": "A stream of changes, or one page with wait=false.",
        },
        **ERRORS,
    },
)
async def changes(
    *,
    token: Read,
    request: Request,
    after: Annotated[int | None, Query(ge=0, le=check.MAX_COUNT)] = None,
    namespace: NamespaceQuery = None,
    prefix: LabelQuery = None,
    wait: bool = True,
    limit: Annotated[int, Query(ge=1, le=1000)] = PAGE,
    last_event_id: Annotated[
        str, Header(alias="Last-Event-ID", max_length=20, pattern=r"^\d*$")
    ] = "",
) -> Response:
    """Committed changes to secrets, in log order: metadata, never a value.

    As Server-Sent Events (``id:`` is the log position; resume with
    ``Last-Event-ID`` or ``?after=``; a comment every 15 s), from now on when
    neither is given; with ``wait=false``, one JSON page from ``after``.
    A namespace-bound token sees its namespace only.
    """
    if token.namespace is not None:
        namespace = token.namespace_for(namespace or token.namespace)
    sm: SecretsManager = request.app.state.sm
    if last_event_id:
        after = check.check_count(int(last_event_id), "Last-Event-ID")
    if not wait:
        page = await run_in_threadpool(
            lambda: sm.changes(after, namespace=namespace, prefix=prefix, limit=limit)
        )
        out = ChangePageOut(
            changes=[change_out(c) for c in page], position=page.position
        )
        return answer(out)

    def read(position: int) -> ChangePage:
        return sm.changes(position, namespace=namespace, prefix=prefix, limit=PAGE)

    # Woken from before the first read, so no commit falls between the two.
    follower = _follower(request)
    woken = asyncio.Event()
    follower.subscribe(woken)
    # The first page is read before the answer starts: a bad filter or a failing
    # database is a 4xx/5xx, not an empty stream.
    try:
        start = await run_in_threadpool(
            lambda: read(sm.log_position() if after is None else after)
        )
    except BaseException:
        follower.unsubscribe(woken)
        raise

    async def stream() -> AsyncIterator[bytes]:
        page = start
        try:
            yield b": strongroom change feed\n\n"
            while True:
                for change in page:
                    yield _sse(change)
                if len(page) < PAGE:
                    try:
                        await asyncio.wait_for(woken.wait(), HEARTBEAT_SECONDS)
                    except TimeoutError:
                        yield b": heartbeat\n\n"
                    woken.clear()
                if follower.ending:
                    return
                position = page.position
                page = await run_in_threadpool(read, position)
        finally:
            follower.unsubscribe(woken)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
