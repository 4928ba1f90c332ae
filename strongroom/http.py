"""The HTTP API: Fluxbase's secrets contract under ``/api/v1/secrets``, token-scoped.

``create_app(sm)`` returns an ASGI application (FastAPI); ``strongroom serve`` runs
it under uvicorn. Every route needs ``Authorization: Bearer <token>`` except the
health checks and the OpenAPI document. Responses never carry a value except the
``/value`` extension (scope ``secrets:reveal``); error bodies are
``{"error": ..., "code": ...}`` and never name a value or show a traceback.
"""

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from strongroom.domain.errors import (
    AccessDeniedError,
    CommitUnknownError,
    ConflictError,
    KeyReusedError,
    NameReservedError,
    SecretDeletedError,
    SecretExistsError,
    SecretExpiredError,
    SecretNotFoundError,
    SecretRevokedError,
    StoreBusyError,
    StoreUnavailableError,
    StrongroomError,
    ValidationError,
    VersionConflictError,
    VersionNotFoundError,
)
from strongroom.domain.results import Secret, SecretVersion
from strongroom.domain.tokens import ApiToken
from strongroom.manager import SecretsManager

PREFIX = "/api/v1/secrets"
# The OpenAPI document states the validation rules, so clients (and schemathesis)
# know what the server accepts.
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_.\-]+)*$"
NAMESPACE_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,62}$"
MAX_NAME = 255
MAX_TEXT = 4096
MAX_LABEL = 255
MAX_VALUE_CHARS = 16 * 1024  # 4 bytes per character at most: within the 64 KiB limit
SecretName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=MAX_NAME)]
NamespaceName = Annotated[str, Field(pattern=NAMESPACE_PATTERN)]
ValueText = Annotated[str, Field(min_length=1, max_length=MAX_VALUE_CHARS)]
Description = Annotated[str, Field(max_length=MAX_TEXT)]
ActionName = Literal[
    "created",
    "updated",
    "patched",
    "rolled_back",
    "metadata_changed",
    "revoked",
    "reinstated",
    "deleted",
    "revealed",
]
MAX_BODY = 1024 * 1024
MAX_JSON_DEPTH = 64
_VERSION_IDS = uuid.UUID("6f1d3c0e-5a7b-4c1e-9d2f-7b8a9c0d1e2f")

access_log = logging.getLogger("strongroom.http")


# ------------------------------------------------------------------ schemas


class ErrorOut(BaseModel):
    """Every error response."""

    error: str
    code: str


class SecretOut(BaseModel):
    """A secret's metadata (Fluxbase ``Secret``): never its value."""

    id: UUID
    name: str
    scope: Literal["global", "namespace"]
    namespace: str | None = None
    description: str | None = None
    version: int
    expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    created_by: str | None = None
    updated_by: str | None = None


class SecretSummaryOut(SecretOut):
    """A listing entry (Fluxbase ``SecretSummary``)."""

    is_expired: bool


class SecretVersionOut(BaseModel):
    """One value version (Fluxbase ``SecretVersion``)."""

    id: UUID
    secret_id: UUID
    version: int
    created_at: datetime
    created_by: str | None = None


class StatsOut(BaseModel):
    """Counts (Fluxbase's three, then strongroom's)."""

    total: int
    expiring_soon: int
    expired: int
    active: int
    revoked: int
    deleted: int


class CreateIn(BaseModel):
    """Body of ``POST /``."""

    model_config = ConfigDict(
        extra="forbid",
        # Fluxbase's rule, stated in the schema: scope "namespace" needs a namespace.
        json_schema_extra={
            "if": {
                "properties": {"scope": {"const": "namespace"}},
                "required": ["scope"],
            },
            "then": {
                "required": ["namespace"],
                "properties": {"namespace": {"type": "string"}},
            },
        },
    )

    name: SecretName
    value: ValueText
    scope: Literal["global", "namespace"] | None = None
    namespace: NamespaceName | None = None
    description: Description | None = None
    expires_at: datetime | None = None


class UpdateIn(BaseModel):
    """Body of ``PUT``: at least one field."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    value: ValueText | None = None
    description: Description | None = None
    expires_at: datetime | None = None


class MessageOut(BaseModel):
    """A plain confirmation."""

    message: str


class ValueOut(BaseModel):
    """A revealed value (the ``/value`` extension)."""

    name: str
    namespace: str | None = None
    version: int
    value: Any


class AuditOut(BaseModel):
    """One recorded action (history and audit)."""

    at: datetime
    actor: str | None = None
    action: str
    secret_id: UUID
    name: str | None = None
    namespace: str | None = None
    version: int | None = None


class BatchIn(BaseModel):
    """Body of ``POST /batch/values``."""

    model_config = ConfigDict(extra="forbid")

    names: list[SecretName] = Field(min_length=1, max_length=100)
    namespace: NamespaceName | None = None


class BatchItemOut(BaseModel):
    """One name's result: its value, or its error."""

    name: str
    version: int | None = None
    value: Any = None
    error: str | None = None
    code: str | None = None


class BatchOut(BaseModel):
    """Per-item results, in the order asked."""

    results: list[BatchItemOut]


class KeyIn(BaseModel):
    """Body of ``PUT /api/v1/keys/{id}``."""

    model_config = ConfigDict(extra="forbid")

    secret: str = Field(min_length=1)


class KeyOut(BaseModel):
    """An aggregate key (the key API's ``get_secret``)."""

    id: str
    secret: str


class HealthOut(BaseModel):
    """Liveness and readiness."""

    status: str


# ------------------------------------------------------------------ errors


class ApiError(Exception):
    """An error response raised from a route or a dependency."""

    def __init__(self, status: int, error: str, code: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.code = code


_STATUS: list[tuple[type[StrongroomError], int, str]] = [
    (ValidationError, 400, "validation_error"),
    (SecretNotFoundError, 404, "not_found"),
    (VersionNotFoundError, 404, "version_not_found"),
    (SecretExistsError, 409, "exists"),
    (NameReservedError, 409, "name_reserved"),
    (KeyReusedError, 409, "key_reused"),
    (VersionConflictError, 409, "conflict"),
    (SecretDeletedError, 410, "deleted"),
    (SecretExpiredError, 410, "expired"),
    (SecretRevokedError, 409, "revoked"),
    (AccessDeniedError, 403, "access_denied"),
    (CommitUnknownError, 503, "commit_unknown"),
    (StoreBusyError, 503, "store_busy"),
    (StoreUnavailableError, 503, "store_unavailable"),
    (ConflictError, 409, "conflict"),
]


def _error(status: int, error: str, code: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "code": code})


def _from_strongroom(exc: StrongroomError) -> JSONResponse:
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            # strongroom's messages name secrets, never values.
            return _error(status, str(exc), code)
    access_log.error("internal error: %s", type(exc).__name__)
    return _error(500, "internal error", "internal")


class _BodyLimit:
    """Refuses request bodies over ``limit`` bytes, declared or streamed (chunked).

    The body is read (at most ``limit`` bytes) before the application sees it, so an
    oversized request is answered 413 without running any route.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
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
                response = _error(413, "request body too large", "too_large")
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


# ------------------------------------------------------------------ the app


def create_app(sm: SecretsManager) -> FastAPI:  # noqa: PLR0915 - the routes, in order
    """The ASGI application serving ``sm``."""
    app = FastAPI(
        title="strongroom",
        version="1",
        description="Event-sourced secrets with per-secret crypto-shredding.",
        docs_url=None,
        redoc_url=None,
    )

    app.add_middleware(_BodyLimit, limit=MAX_BODY)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.error, exc.code)

    @app.exception_handler(StrongroomError)
    async def _domain_error(_: Request, exc: StrongroomError) -> JSONResponse:
        return _from_strongroom(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Say where, never echo the input: it may be a secret value.
        where = ", ".join(
            ".".join(str(part) for part in err.get("loc", ())) for err in exc.errors()
        )
        return _error(400, f"invalid request: {where or 'body'}", "validation_error")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            400: "validation_error",
            404: "not_found",
            405: "method_not_allowed",
        }.get(exc.status_code, "error")
        return _error(exc.status_code, str(exc.detail), code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        access_log.error("internal error: %s", type(exc).__name__)
        return _error(500, "internal error", "internal")

    @app.middleware("http")
    async def _access_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        # One JSON line per request. Paths may hold secret names, never values;
        # query strings and bodies are left out.
        access_log.info(
            json.dumps(
                {
                    "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "client": request.client.host if request.client else None,
                },
                separators=(",", ":"),
            )
        )
        return response

    def bearer(scope: str) -> Callable[[Request], Awaitable[ApiToken]]:
        async def check(request: Request) -> ApiToken:
            header = request.headers.get("authorization", "")
            kind, _, token = header.partition(" ")
            if kind.lower() != "bearer" or not token:
                raise ApiError(401, "missing bearer token", "unauthenticated")
            found = await run_in_threadpool(sm.tokens.verify, token.strip())
            if found is None:
                raise ApiError(
                    401, "invalid, expired or revoked token", "unauthenticated"
                )
            if not found.allows(scope, datetime.now(UTC)):
                raise ApiError(403, f"the token lacks the {scope} scope", "forbidden")
            return found

        return check

    Read = Annotated[ApiToken, Depends(bearer("secrets:read"))]
    Write = Annotated[ApiToken, Depends(bearer("secrets:write"))]
    Reveal = Annotated[ApiToken, Depends(bearer("secrets:reveal"))]
    NameParam = Annotated[
        str,
        Path(
            description="Secret name (may contain /).",
            pattern=NAME_PATTERN,
            max_length=MAX_NAME,
        ),
    ]
    NamespaceQuery = Annotated[str | None, Query(pattern=NAMESPACE_PATTERN)]
    LabelQuery = Annotated[str | None, Query(max_length=MAX_LABEL)]
    IdParam = Annotated[UUID, Path()]
    VersionParam = Annotated[int, Path(ge=1)]

    def namespace_for(token: ApiToken, namespace: str | None) -> str | None:
        if token.namespace is not None and namespace != token.namespace:
            raise ApiError(403, "the token is bound to another namespace", "forbidden")
        return namespace

    async def by_id(token: ApiToken, secret_id: UUID) -> Secret:
        secret = await run_in_threadpool(sm.get_by_id, secret_id)
        if token.namespace is not None and secret.namespace != token.namespace:
            # Do not tell a bound token what exists elsewhere.
            raise ApiError(404, f"secret {secret_id} not found", "not_found")
        return secret

    errors: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 410, 412)
    }

    # ---------------------------------------------------------- health

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
            return _error(503, "the database is unreachable", "unavailable")
        return HealthOut(status="ready")

    # ---------------------------------------------------------- collection

    @app.get(
        PREFIX,
        response_model=list[SecretSummaryOut],
        responses=errors,
        response_model_exclude_none=True,
    )
    async def list_secrets(
        token: Read,
        scope: Annotated[Literal["global", "namespace"] | None, Query()] = None,
        namespace: NamespaceQuery = None,
    ) -> list[SecretSummaryOut]:
        """Every live secret's metadata (global first, then by namespace and name)."""
        if token.namespace is not None:
            if scope == "global" or namespace not in {None, token.namespace}:
                return []
            scope, namespace = "namespace", token.namespace
        items = await run_in_threadpool(
            lambda: list(_all_secrets(sm, scope, namespace))
        )
        return [_summary(secret) for secret in items]

    @app.get(PREFIX + "/stats", response_model=StatsOut, responses=errors)
    async def stats(token: Read) -> StatsOut:
        """Counts of secrets."""
        found = await run_in_threadpool(lambda: sm.stats(namespace=token.namespace))
        return StatsOut(
            total=found.total,
            expiring_soon=found.expiring_soon,
            expired=found.expired,
            active=found.active,
            revoked=found.revoked,
            deleted=found.deleted,
        )

    IdempotencyKey = Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=255, pattern=r"^[!-~]+$"),
    ]

    @app.post(
        PREFIX,
        status_code=201,
        response_model=SecretOut,
        responses=errors,
        response_model_exclude_none=True,
    )
    async def create(
        token: Write, body: CreateIn, idempotency_key: IdempotencyKey = None
    ) -> SecretOut:
        """Create a secret (409 if the name is taken, even by a deleted one).

        With ``Idempotency-Key``, a retried request with the same body answers the
        first one's secret; the same key with another body is a 409.
        """
        scope = body.scope or ("namespace" if body.namespace else "global")
        if scope == "namespace" and not body.namespace:
            raise ApiError(
                400,
                "namespace is required when scope is 'namespace'",
                "validation_error",
            )
        namespace = body.namespace if scope == "namespace" else None
        namespace = namespace_for(token, namespace)
        secret = await run_in_threadpool(
            lambda: sm.create(
                body.name,
                body.value,
                namespace=namespace,
                description=body.description,
                expires_at=body.expires_at,
                actor=_actor(token),
                request_id=idempotency_key,
            )
        )
        return _out(secret)

    # ---------------------------------------------------------- by name

    @app.get(
        PREFIX + "/by-name/{name:path}/versions",
        response_model=list[SecretVersionOut],
        responses=errors,
        response_model_exclude_none=True,
    )
    async def versions_by_name(
        token: Read, name: NameParam, namespace: NamespaceQuery = None
    ) -> list[SecretVersionOut]:
        """Value versions, newest first."""
        namespace = namespace_for(token, namespace)
        secret = await run_in_threadpool(_get_live, sm, name, namespace)
        found = await run_in_threadpool(sm.versions, name, namespace=namespace)
        return [_version(secret.id, v) for v in found]

    @app.post(
        PREFIX + "/by-name/{name:path}/rollback/{version}",
        response_model=SecretOut,
        responses=errors,
        response_model_exclude_none=True,
    )
    async def rollback_by_name(
        token: Write,
        name: NameParam,
        version: VersionParam,
        namespace: NamespaceQuery = None,
    ) -> SecretOut:
        """A new version carrying an old version's value."""
        namespace = namespace_for(token, namespace)
        secret = await run_in_threadpool(
            lambda: sm.rollback(name, version, namespace=namespace, actor=_actor(token))
        )
        return _out(secret)

    @app.get(
        PREFIX + "/by-name/{name:path}/value",
        response_model=ValueOut,
        responses=errors,
        response_model_exclude_none=True,
    )
    async def value_by_name(
        token: Reveal,
        name: NameParam,
        namespace: NamespaceQuery = None,
        version: Annotated[int | None, Query(ge=1)] = None,
        app_name: Annotated[
            str | None, Query(alias="app", max_length=MAX_LABEL)
        ] = None,
        env: LabelQuery = None,
    ) -> ValueOut:
        """The value (current, or ``version``): needs ``secrets:reveal``."""
        namespace = namespace_for(token, namespace)

        # Every reveal over HTTP is recorded: who, which version, when.
        value, revealed = await run_in_threadpool(
            lambda: sm.reveal_with_version(
                name,
                namespace=namespace,
                version=version,
                app=app_name,
                env=env,
                actor=_actor(token),
                audit=True,
            )
        )
        return ValueOut(name=name, namespace=namespace, version=revealed, value=value)

    def toggle_route(verb: str, doc: str) -> None:
        async def toggle(
            token: Write, name: NameParam, namespace: NamespaceQuery = None
        ) -> SecretOut:
            namespace = namespace_for(token, namespace)

            def run() -> Secret:
                getattr(sm, verb)(name, namespace=namespace, actor=_actor(token))
                return sm.get(name, namespace=namespace)

            return _out(await run_in_threadpool(run))

        toggle.__doc__ = doc
        app.post(
            PREFIX + "/by-name/{name:path}/" + verb,
            response_model=SecretOut,
            responses=errors,
            name=f"{verb}_by_name",
            response_model_exclude_none=True,
        )(toggle)

    toggle_route("revoke", "Stop reveals until reinstated (idempotent).")
    toggle_route("reinstate", "Allow reveals again (idempotent).")

    @app.get(
        PREFIX + "/by-name/{name:path}/history",
        response_model=list[AuditOut],
        responses=errors,
        response_model_exclude_none=True,
    )
    async def history_by_name(
        token: Read, name: NameParam, namespace: NamespaceQuery = None
    ) -> list[AuditOut]:
        """Every recorded action on the secret, from the event log."""
        namespace = namespace_for(token, namespace)
        found = await run_in_threadpool(sm.history, name, namespace=namespace)
        return [_audit(entry) for entry in found]

    @app.patch(
        PREFIX + "/by-name/{name:path}",
        response_model=SecretOut,
        responses=errors,
        openapi_extra={
            "parameters": [
                {
                    "name": "If-Match",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": '^"?[1-9][0-9]{0,8}"?$'},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    media: {"schema": {"type": "object", "maxProperties": 50}}
                    for media in ("application/merge-patch+json", "application/json")
                },
            },
        },
        response_model_exclude_none=True,
    )
    async def patch_by_name(
        token: Write,
        name: NameParam,
        request: Request,
        namespace: NamespaceQuery = None,
    ) -> SecretOut:
        """Apply a JSON merge patch (RFC 7396) to a JSON-object value.

        ``If-Match: <version>`` makes it conditional: 412 if the secret moved on.
        """
        namespace = namespace_for(token, namespace)
        raw = await request.body()
        if not _shallow_enough(raw):
            msg = f"the merge patch is nested deeper than {MAX_JSON_DEPTH} levels"
            raise ApiError(400, msg, "validation_error")
        try:
            changes = json.loads(raw)
        except ValueError:
            msg = "the body must be a JSON merge patch"
            raise ApiError(400, msg, "validation_error") from None
        if not isinstance(changes, dict):
            msg = "the merge patch must be a JSON object"
            raise ApiError(400, msg, "validation_error")
        expected = request.headers.get("if-match")
        if expected is not None:
            expected = expected.strip().strip('"')
            if not expected.isdigit():
                msg = "If-Match must be a version number"
                raise ApiError(400, msg, "validation_error")
        return _out(
            await run_in_threadpool(
                _merge_patch, sm, name, namespace, changes, expected, token
            )
        )

    @app.get(
        PREFIX + "/by-name/{name:path}",
        response_model=SecretOut,
        responses=errors,
        response_model_exclude_none=True,
    )
    async def get_by_name(
        token: Read, name: NameParam, namespace: NamespaceQuery = None
    ) -> SecretOut:
        """A secret's metadata."""
        namespace = namespace_for(token, namespace)
        return _out(await run_in_threadpool(_get_live, sm, name, namespace))

    @app.put(
        PREFIX + "/by-name/{name:path}",
        response_model=SecretOut,
        responses=errors,
        response_model_exclude_none=True,
    )
    async def update_by_name(
        token: Write, name: NameParam, body: UpdateIn, namespace: NamespaceQuery = None
    ) -> SecretOut:
        """Change the value and/or metadata (a new value is a new version)."""
        namespace = namespace_for(token, namespace)
        return _out(await run_in_threadpool(_update, sm, name, namespace, body, token))

    @app.delete(
        PREFIX + "/by-name/{name:path}", response_model=MessageOut, responses=errors
    )
    async def delete_by_name(
        token: Write, name: NameParam, namespace: NamespaceQuery = None
    ) -> MessageOut:
        """Crypto-shred the secret; its name stays reserved."""
        namespace = namespace_for(token, namespace)
        await run_in_threadpool(_delete, sm, name, namespace, token)
        return MessageOut(message="Secret deleted successfully")

    # ---------------------------------------------------------- audit, batch

    @app.get(
        PREFIX + "/audit",
        responses={200: {"content": {"application/x-ndjson": {}}}, **errors},
        response_class=StreamingResponse,
    )
    async def audit(
        token: Read,
        since: Annotated[datetime | None, Query()] = None,
        until: Annotated[datetime | None, Query()] = None,
        actor: LabelQuery = None,
        namespace: NamespaceQuery = None,
        action: Annotated[ActionName | None, Query()] = None,
    ) -> StreamingResponse:
        """Recorded actions across the store, as NDJSON, in log order."""
        if token.namespace is not None:
            namespace = namespace_for(token, namespace or token.namespace)
        entries = await run_in_threadpool(
            lambda: sm.audit(
                since=since,
                until=until,
                actor=actor,
                namespace=namespace,
                action=action,
            )
        )

        def lines() -> Iterator[bytes]:
            for entry in entries:
                yield _audit(entry).model_dump_json(exclude_none=True).encode() + b"\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.post(
        PREFIX + "/batch/values",
        response_model=BatchOut,
        responses=errors,
        response_model_exclude_none=True,
    )
    async def batch_values(token: Reveal, body: BatchIn) -> BatchOut:
        """Reveal several values; each name gets its value or its error (audited)."""
        namespace = namespace_for(token, body.namespace)

        def reveal_all() -> BatchOut:
            results = []
            for name in body.names:
                try:
                    value, version = sm.reveal_with_version(
                        name, namespace=namespace, actor=_actor(token), audit=True
                    )
                    results.append(
                        BatchItemOut(name=name, version=version, value=value)
                    )
                except StrongroomError as exc:
                    failed = json.loads(bytes(_from_strongroom(exc).body))
                    results.append(BatchItemOut(name=name, **failed))
            return BatchOut(results=results)

        return await run_in_threadpool(reveal_all)

    # ---------------------------------------------------------- keys

    KeysRead = Annotated[ApiToken, Depends(bearer("keys:read"))]
    KeysWrite = Annotated[ApiToken, Depends(bearer("keys:write"))]
    # Any id but one holding a line break: the route's path pattern stops there
    # (an id of a lone "\n" would reach the handler as ""). The library takes all.
    KeyIdParam = Annotated[str, Path(min_length=1, max_length=255, pattern=r"^[^\n]+$")]

    @app.get("/api/v1/keys/{key_id:path}", response_model=KeyOut, responses=errors)
    async def get_key(token: KeysRead, key_id: KeyIdParam) -> KeyOut:
        """The secret of an aggregate key id (404: never set, or deleted)."""
        del token
        found = await run_in_threadpool(sm.keys.get_secret, key_id)
        if found is None:
            raise ApiError(404, f"no key under id {key_id!r}", "not_found")
        return KeyOut(id=key_id, secret=found)

    @app.put(
        "/api/v1/keys/{key_id:path}",
        status_code=201,
        response_model=KeyOut,
        responses=errors,
    )
    async def put_key(token: KeysWrite, key_id: KeyIdParam, body: KeyIn) -> KeyOut:
        """Set the secret of a never-used id (409 for any id used before)."""
        del token
        await run_in_threadpool(sm.keys.set_secret, key_id, body.secret)
        return KeyOut(id=key_id, secret=body.secret)

    @app.delete(
        "/api/v1/keys/{key_id:path}", response_model=MessageOut, responses=errors
    )
    async def delete_key(token: KeysWrite, key_id: KeyIdParam) -> MessageOut:
        """Destroy the secret of an id; the id stays used forever."""
        del token
        if not await run_in_threadpool(sm.keys.delete_secret, key_id):
            raise ApiError(404, f"no live key under id {key_id!r}", "not_found")
        return MessageOut(message="Key deleted successfully")

    # ---------------------------------------------------------- by id

    @app.get(
        PREFIX + "/{secret_id}/versions",
        response_model=list[SecretVersionOut],
        responses=errors,
        response_model_exclude_none=True,
    )
    async def versions_by_id(token: Read, secret_id: IdParam) -> list[SecretVersionOut]:
        """Value versions, newest first."""
        secret = await by_id(token, secret_id)
        found = await run_in_threadpool(
            sm.versions, secret.name, namespace=secret.namespace
        )
        return [_version(secret.id, v) for v in found]

    @app.post(
        PREFIX + "/{secret_id}/rollback/{version}",
        response_model=SecretOut,
        responses=errors,
        response_model_exclude_none=True,
    )
    async def rollback_by_id(
        token: Write, secret_id: IdParam, version: VersionParam
    ) -> SecretOut:
        """A new version carrying an old version's value."""
        secret = await by_id(token, secret_id)
        rolled = await run_in_threadpool(
            lambda: sm.rollback(
                secret.name, version, namespace=secret.namespace, actor=_actor(token)
            )
        )
        return _out(rolled)

    @app.get(
        PREFIX + "/{secret_id}",
        response_model=SecretOut,
        responses=errors,
        response_model_exclude_none=True,
    )
    async def get_by_id(token: Read, secret_id: IdParam) -> SecretOut:
        """A secret's metadata by id."""
        return _out(await by_id(token, secret_id))

    @app.put(
        PREFIX + "/{secret_id}",
        response_model=SecretOut,
        responses=errors,
        response_model_exclude_none=True,
    )
    async def update_by_id(
        token: Write, secret_id: IdParam, body: UpdateIn
    ) -> SecretOut:
        """Change the value and/or metadata by id."""
        secret = await by_id(token, secret_id)
        return _out(
            await run_in_threadpool(
                _update, sm, secret.name, secret.namespace, body, token
            )
        )

    @app.delete(PREFIX + "/{secret_id}", response_model=MessageOut, responses=errors)
    async def delete_by_id(token: Write, secret_id: IdParam) -> MessageOut:
        """Crypto-shred the secret by id."""
        secret = await by_id(token, secret_id)
        await run_in_threadpool(_delete, sm, secret.name, secret.namespace, token)
        return MessageOut(message="Secret deleted successfully")

    return app


# ------------------------------------------------------------------ helpers


def _actor(token: ApiToken) -> str:
    return f"token:{token.name or token.id}"


def _scope(secret: Secret) -> Literal["global", "namespace"]:
    return "global" if secret.namespace is None else "namespace"


def _out(secret: Secret) -> SecretOut:
    return SecretOut(
        id=secret.id,
        name=secret.name,
        scope=_scope(secret),
        namespace=secret.namespace,
        description=secret.description,
        version=secret.version,
        expires_at=secret.expires_at,
        created_at=secret.created_at,
        updated_at=secret.updated_at,
        created_by=secret.created_by,
        updated_by=secret.updated_by,
    )


def _summary(secret: Secret) -> SecretSummaryOut:
    return SecretSummaryOut(**_out(secret).model_dump(), is_expired=secret.is_expired)


def _version(secret_id: UUID, version: SecretVersion) -> SecretVersionOut:
    return SecretVersionOut(
        id=uuid.uuid5(_VERSION_IDS, f"{secret_id}/{version.version}"),
        secret_id=secret_id,
        version=version.version,
        created_at=version.created_at,
        created_by=version.created_by,
    )


def _shallow_enough(raw: bytes, limit: int = 0) -> bool:
    """Whether JSON text nests at most ``limit`` levels (checked before parsing it:
    a deep enough document exhausts Python's recursion limit in the parser)."""
    limit = limit or MAX_JSON_DEPTH
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


def _audit(entry: Any) -> AuditOut:
    return AuditOut.model_validate(entry, from_attributes=True)


def _apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge recursively, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _apply_merge_patch(result.get(key), value)
    return result


def _merge_patch(
    sm: SecretsManager,
    name: str,
    namespace: str | None,
    changes: dict[str, Any],
    expected: str | None,
    token: ApiToken,
) -> Secret:
    for _ in range(5):
        old, version = sm.reveal_with_version(name, namespace=namespace, audit=False)
        if expected is not None and int(expected) != version:
            msg = f"secret {name!r} is at version {version}"
            raise ApiError(412, msg, "precondition_failed")
        try:
            return sm.update(
                name,
                namespace=namespace,
                value=_apply_merge_patch(old, changes),
                expected_version=version,
                actor=_actor(token),
            )
        except VersionConflictError:
            if expected is not None:
                msg = f"secret {name!r} changed meanwhile"
                raise ApiError(412, msg, "precondition_failed") from None
    msg = f"secret {name!r} kept changing; the patch gave up"
    raise VersionConflictError(msg)


def _all_secrets(
    sm: SecretsManager, scope: str | None, namespace: str | None
) -> Iterator[Secret]:
    cursor: str | None = None
    while True:
        page = sm.list(scope=scope, namespace=namespace, limit=1000, cursor=cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _get_live(sm: SecretsManager, name: str, namespace: str | None) -> Secret:
    found = sm.get(name, namespace=namespace, include_deleted=True)
    if found.status.value == "deleted":
        msg = f"secret {name!r} was deleted"
        raise SecretDeletedError(msg)
    return found


def _update(
    sm: SecretsManager,
    name: str,
    namespace: str | None,
    body: UpdateIn,
    token: ApiToken,
) -> Secret:
    given = body.model_dump(exclude_unset=True)
    if not given:
        msg = "at least one field (value, description or expires_at) must be given"
        raise ValidationError(msg)
    if given.get("value", "") is None:
        del given["value"]  # a value cannot be cleared: null means "unchanged"
    if not given:
        return _get_live(sm, name, namespace)
    return sm.update(name, namespace=namespace, actor=_actor(token), **given)


def _delete(
    sm: SecretsManager, name: str, namespace: str | None, token: ApiToken
) -> None:
    if not sm.delete(name, namespace=namespace, actor=_actor(token)):
        _get_live(sm, name, namespace)  # raises: 404 never existed, 410 deleted
        msg = f"secret {name!r} appeared while being deleted; try again"
        raise VersionConflictError(msg)
