"""The app's ASGI middlewares and request checks: body limit, access log, name segment,
unknown query parameters."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from strongroom.domain import validation as check
from strongroom.http.errors import ApiError, access_log, error_response

PREFIX = "/api/v1/secrets"
BY_NAME = PREFIX + "/by-name/"


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes, declared or streamed (chunked).

    The body is read (at most ``limit`` bytes) before the application sees it, so an
    oversized request is answered 413 without running any route.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Read the body up to the limit, then hand it on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                response = error_response(413, "request body too large", "too_large")
                await response(scope, receive, send)
                return
            chunks.append(body)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {
                    "type": "http.request",
                    "body": b"".join(chunks),
                    "more_body": False,
                }
            return await receive()

        await self.app(scope, replay, send)


class AccessLog:
    """One JSON line per request, written when the answer ends (or is cut off).

    A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``, which
    would finish a stream cleanly when its body raises: a failure mid-stream must
    reach the server, which then aborts the connection, so a client never takes
    a cut stream for a complete one. Paths may hold secret names, never values;
    query strings and bodies are left out.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass the request on, noting its status and duration."""
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def noting(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        aborted = True
        try:
            await self.app(scope, receive, noting)
            aborted = False
        finally:
            client = scope.get("client")
            line = {
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "client": client[0] if client else None,
            }
            if aborted:
                line["aborted"] = True
            access_log.info(json.dumps(line, separators=(",", ":")))


class NameSegment:
    """Makes a by-name path unambiguous: the name is exactly one path segment.

    A name's ``/`` travels as ``%2F`` (``encodeURIComponent``), so
    ``/by-name/svc%2Fvalue`` is the secret ``svc/value`` and ``/by-name/svc/value``
    the value of ``svc``. The server decodes paths before routing, which would
    lose that difference, so this keeps the name's segment encoded for the router
    (routes decode it once, with ``name_of``).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Route on the raw name segment, the rest of the path decoded."""
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw and scope["path"].startswith(BY_NAME):
            prefix = BY_NAME.encode()
            at = raw.find(prefix)
            if at >= 0:
                segment, slash, rest = raw[at + len(prefix) :].partition(b"/")
                name = quote(unquote(segment.decode("latin-1")), safe="")
                tail = unquote(rest.decode("latin-1"))
                scope = dict(scope, path=BY_NAME + name + slash.decode() + tail)
        await self.app(scope, receive, send)


def name_of(segment: str) -> str:
    """The secret name a by-name route's path segment holds."""
    return check.check_name(unquote(segment))


def shallow_enough(raw: bytes, limit: int = check.MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests at most ``limit`` levels (checked before parsing it:
    a deep enough document exhausts Python's recursion limit in the parser)."""
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in {0x5B, 0x7B}:  # [ {
            depth += 1
            if depth > limit:
                return False
        elif byte in {0x5D, 0x7D}:  # ] }
            depth -= 1
    return True


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def known_query(request: Request) -> None:
    """400 for a query parameter the route does not take (a typo fails loudly)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    unknown = sorted(set(request.query_params) - _query_names(route.dependant))
    if unknown:
        msg = f"unknown query parameter: {', '.join(unknown)[:200]}"
        raise ApiError(400, msg, "validation_error")
