"""The ASGI application: middlewares, error handlers, the index and health checks,
and the routers of the secrets and key APIs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from strongroom import SecretsManager
from strongroom.domain.errors import StrongroomError
from strongroom.http import aws, collection, feed, keys, secret
from strongroom.http.errors import ApiError, access_log, error_response, from_strongroom
from strongroom.http.middleware import (
    PREFIX,
    AccessLog,
    BodyLimit,
    NameSegment,
    known_query,
)
from strongroom.http.schemas import ErrorOut, HealthOut
from strongroom.services.lifecycle import RotationHook

MAX_BODY = 1024 * 1024
_INDEX = {
    "name": "strongroom",
    "openapi": "/openapi.json",
    "secrets": PREFIX,
    "keys": "/api/v1/keys/{id}",
    "health": ["/healthz", "/readyz"],
}


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.error, exc.code, exc.headers)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StrongroomError)
    return from_strongroom(exc)


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Name the field and the rule, never echo the input: it may be a value.
    parts = []
    for err in exc.errors():
        # The field, not the path inside it: keys deeper down are input.
        where = ".".join(str(part) for part in err.get("loc", ())[:2])
        rule = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where or 'body'}: {rule}")
    return error_response(
        400, "invalid request: " + "; ".join(parts), "validation_error"
    )


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {400: "validation_error", 404: "not_found", 405: "method_not_allowed"}
    return error_response(
        exc.status_code, str(exc.detail), code.get(exc.status_code, "error")
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    access_log.error("internal error: %s", type(exc).__name__)
    return error_response(500, "internal error", "internal")


async def _purge(sm: SecretsManager, every: float) -> None:
    """Purge due deletions now and then (several workers: one wins each secret)."""
    while True:
        await asyncio.sleep(every)
        try:
            purged = await run_in_threadpool(sm.purge_due)
        except Exception as exc:  # noqa: BLE001 - keep serving; try again later
            access_log.error("purge failed: %s", type(exc).__name__)
            continue
        for ref in purged:
            access_log.info("purged secret %s", ref.id)


def create_app(
    sm: SecretsManager,
    *,
    rotation_hook: RotationHook | None = None,
    purge_every: float | None = 60.0,
    aws_account: str = aws.DEFAULT_ACCOUNT,
) -> FastAPI:
    """The ASGI application serving ``sm``: ``rotation_hook`` runs the set and
    test steps of ``POST …/rotate``; every ``purge_every`` seconds the secrets
    whose deletion date has passed are purged (None: never)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        purging = (
            None
            if purge_every is None
            else asyncio.create_task(_purge(sm, purge_every))
        )
        yield
        if purging is not None:
            purging.cancel()
        app.state.feed_follower.close()

    app = FastAPI(
        lifespan=lifespan,
        title="strongroom",
        version="1",
        description="Event-sourced secrets with per-secret crypto-shredding.",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(known_query)],
    )
    app.state.sm = sm
    app.state.rotation_hook = rotation_hook
    app.state.aws_account = aws_account
    app.state.feed_follower = feed.LogFollower(sm)
    app.router.redirect_slashes = False
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    app.add_middleware(NameSegment)
    app.add_middleware(AccessLog)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StrongroomError, _domain_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)

    @app.get("/", tags=["health"])
    async def index() -> dict[str, Any]:
        """Where things are."""
        return _INDEX

    @app.get("/healthz", response_model=HealthOut, tags=["health"])
    async def healthz() -> HealthOut:
        """The process is up."""
        return HealthOut(status="ok")

    @app.get(
        "/readyz",
        response_model=HealthOut,
        responses={503: {"model": ErrorOut}},
        tags=["health"],
    )
    async def readyz() -> Any:
        """The database answers."""
        try:
            await run_in_threadpool(sm.exists, "readyz-probe")
        except Exception:  # noqa: BLE001 - any failure means not ready
            return error_response(503, "the database is unreachable", "unavailable")
        return HealthOut(status="ready")

    # Routes are matched in order: by name first (the most requested), the
    # collection's fixed paths (/stats, /audit, /batch) before /{id}.
    app.include_router(aws.router)  # POST /: AWS Secrets Manager's protocol
    app.include_router(secret.router)
    app.include_router(collection.router)
    app.include_router(feed.router)
    app.include_router(keys.router)
    app.include_router(secret.by_id_router)
    return app
