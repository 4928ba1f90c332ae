"""The HTTP API: Fluxbase's secrets contract under ``/api/v1/secrets``, token-scoped.

``create_app(sm)`` returns an ASGI application (FastAPI); ``strongroom serve`` runs
it under uvicorn. Every route needs ``Authorization: Bearer <token>`` except ``/``,
the health checks and the OpenAPI document. Responses never carry a value except
the ``/value`` extension (scope ``secrets:reveal``); error bodies are
``{"error": ..., "code": ...}`` and never name a value or show a traceback.

A secret's name is one path segment: write its ``/`` as ``%2F``
(``/by-name/db%2Fpassword/versions``). Input rules are the library's own
(``domain/validation``); binding rules are the token's (``domain/tokens``).
"""

import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from itertools import chain
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from uuid import UUID

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from strongroom.domain import validation as check
from strongroom.domain.errors import (
    SecretDeletedError,
    StrongroomError,
    ValidationError,
    VersionConflictError,
)
from strongroom.domain.results import Action, Secret, SecretVersion
from strongroom.domain.tokens import ApiToken
from strongroom.http_schemas import (
    MOMENT_TEXT,
    AuditOut,
    BatchIn,
    BatchItemOut,
    BatchOut,
    CreateIn,
    ErrorOut,
    HealthOut,
    KeyIn,
    KeyOut,
    MessageOut,
    SecretOut,
    SecretSummaryOut,
    SecretVersionOut,
    StatsOut,
    UpdateIn,
    ValueOut,
)
from strongroom.http_support import (
    PREFIX,
    AccessLog,
    ApiError,
    BodyLimit,
    NameSegment,
    access_log,
    answer_for,
    apply_merge_patch,
    error_response,
    from_strongroom,
    name_of,
    shallow_enough,
    unauthenticated,
)
from strongroom.manager import SecretsManager

__all__ = ["access_log", "create_app"]

MAX_BODY = 1024 * 1024
_VERSION_IDS = uuid.UUID("6f1d3c0e-5a7b-4c1e-9d2f-7b8a9c0d1e2f")
_INDEX = {
    "name": "strongroom",
    "openapi": "/openapi.json",
    "secrets": PREFIX,
    "keys": "/api/v1/keys/{id}",
    "health": ["/healthz", "/readyz"],
}


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def _known_query(request: Request) -> None:
    """400 for a query parameter the route does not take (a typo fails loudly)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    known = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        msg = f"unknown query parameter: {', '.join(unknown)[:200]}"
        raise ApiError(400, msg, "validation_error")


def create_app(sm: SecretsManager) -> FastAPI:  # noqa: PLR0915 - the routes, in order
    """The ASGI application serving ``sm``."""
    app = FastAPI(
        title="strongroom",
        version="1",
        description="Event-sourced secrets with per-secret crypto-shredding.",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(_known_query)],
    )
    app.router.redirect_slashes = False
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    app.add_middleware(NameSegment)
    app.add_middleware(AccessLog)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.code, exc.headers)

    @app.exception_handler(StrongroomError)
    async def _domain_error(_: Request, exc: StrongroomError) -> JSONResponse:
        return from_strongroom(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
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

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "validation_error", 404: "not_found", 405: "method_not_allowed"}
        return error_response(
            exc.status_code, str(exc.detail), code.get(exc.status_code, "error")
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        access_log.error("internal error: %s", type(exc).__name__)
        return error_response(500, "internal error", "internal")

    def bearer(scope: str) -> Callable[[Request], Awaitable[ApiToken]]:
        async def check_token(request: Request) -> ApiToken:
            kind, _, token = request.headers.get("authorization", "").partition(" ")
            if kind.lower() != "bearer" or not token:
                raise unauthenticated("missing bearer token")
            found = await run_in_threadpool(sm.tokens.verify, token.strip())
            if found is None:
                raise unauthenticated("invalid, expired or revoked token")
            if not found.allows(scope, datetime.now(UTC)):
                raise ApiError(403, f"the token lacks the {scope} scope", "forbidden")
            return found

        return check_token

    Read = Annotated[ApiToken, Depends(bearer("secrets:read"))]
    Write = Annotated[ApiToken, Depends(bearer("secrets:write"))]
    Reveal = Annotated[ApiToken, Depends(bearer("secrets:reveal"))]
    NameParam = Annotated[
        str,
        Path(
            alias="name",
            # For the schema only: the router sees the segment still encoded, and
            # name_of checks the decoded name.
            json_schema_extra={
                "pattern": check.NAME_PATTERN,
                "maxLength": check.MAX_NAME,
            },
            description="The secret's name as one path segment: each / written %2F.",
        ),
    ]
    NamespaceQuery = Annotated[str | None, Query(pattern=check.NAMESPACE_PATTERN)]
    LabelQuery = Annotated[
        str | None, Query(max_length=check.MAX_LABEL, pattern=check.LABEL_PATTERN)
    ]
    MomentQuery = Annotated[datetime | None, Query(json_schema_extra=MOMENT_TEXT)]
    VersionParam = Annotated[int, Path(ge=1, le=check.MAX_COUNT)]
    errors: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 410, 412)
    }
    out: dict[str, Any] = {"responses": errors, "response_model_exclude_none": True}

    def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return run_in_threadpool(fn, *args, **kwargs)

    async def address(
        token: ApiToken, name: str, namespace: str | None
    ) -> tuple[str, str | None]:
        """The secret a by-name route names, once the token may act there."""
        return name_of(name), token.namespace_for(namespace)

    async def by_id(
        token: ApiToken, secret_id: UUID, _: None
    ) -> tuple[str, str | None]:
        """The address of a live secret by id (404 outside the token's namespace)."""
        secret = await call(sm.get_by_id, secret_id)
        if token.namespace is not None and secret.namespace != token.namespace:
            # Do not tell a bound token what exists elsewhere.
            raise ApiError(404, f"secret {secret_id} not found", "not_found")
        return secret.name, secret.namespace

    # ---------------------------------------------------------- index, health

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
            await call(sm.exists, "readyz-probe")
        except Exception:  # noqa: BLE001 - any failure means not ready
            return error_response(503, "the database is unreachable", "unavailable")
        return HealthOut(status="ready")

    # ---------------------------------------------------------- collection

    @app.get(PREFIX, response_model=list[SecretSummaryOut], **out)
    @app.get(
        PREFIX + "/",
        response_model=list[SecretSummaryOut],
        include_in_schema=False,
        **out,
    )
    async def list_secrets(
        token: Read,
        request: Request,
        response: Response,
        scope: Annotated[Literal["global", "namespace"] | None, Query()] = None,
        namespace: NamespaceQuery = None,
        limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
        cursor: Annotated[str | None, Query(max_length=2048)] = None,
    ) -> list[SecretSummaryOut]:
        """Live secrets' metadata (global first, then by namespace and name).

        Without ``limit``, every one (Fluxbase's contract); with it, one page, and
        a ``Link: <...>; rel="next"`` header while more remain.
        """
        if token.namespace is not None:
            if scope == "global" or namespace not in {None, token.namespace}:
                return []
            scope, namespace = "namespace", token.namespace
        if limit is None:
            items = await call(lambda: list(_all_secrets(sm, scope, namespace, cursor)))
            return [_summary(secret) for secret in items]
        page = await call(
            lambda: sm.list(
                scope=scope, namespace=namespace, limit=limit, cursor=cursor
            )
        )
        if page.next_cursor is not None:
            query = {k: v for k, v in request.query_params.items() if k != "cursor"}
            link = f"{PREFIX}?{urlencode({**query, 'cursor': page.next_cursor})}"
            response.headers["Link"] = f'<{link}>; rel="next"'
        return [_summary(secret) for secret in page.items]

    @app.get(PREFIX + "/stats", response_model=StatsOut, responses=errors)
    async def stats(token: Read) -> StatsOut:
        """Counts of secrets (a bound token counts its namespace only)."""
        found = await call(lambda: sm.stats(namespace=token.namespace))
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

    @app.post(PREFIX, status_code=201, response_model=SecretOut, **out)
    @app.post(
        PREFIX + "/",
        status_code=201,
        response_model=SecretOut,
        include_in_schema=False,
        **out,
    )
    async def create(
        token: Write, body: CreateIn, idempotency_key: IdempotencyKey = None
    ) -> SecretOut:
        """Create a secret (409 if the name is taken, even by a deleted one).

        ``scope`` is Fluxbase's ``global``/``namespace``, or Ductape's list of
        allowed apps. With ``Idempotency-Key``, a retried request with the same
        body answers the first one's secret; the same key with another body is a
        409.
        """
        given = body.model_dump(
            exclude_none=True, exclude={"name", "value", "scope", "namespace"}
        )
        if isinstance(body.scope, list):
            # Ductape's scope lists apps: the same as allowed_apps.
            given["allowed_apps"] = [*given.get("allowed_apps", ()), *body.scope]
            scope = "namespace" if body.namespace else "global"
        else:
            scope = body.scope or ("namespace" if body.namespace else "global")
        if scope == "namespace" and not body.namespace:
            msg = "namespace is required when scope is 'namespace'"
            raise ValidationError(msg)
        namespace = token.namespace_for(
            body.namespace if scope == "namespace" else None
        )
        secret = await call(
            lambda: sm.create(
                body.name,
                body.value,
                namespace=namespace,
                actor=token.actor,
                request_id=idempotency_key,
                **given,
            )
        )
        return _out(secret)

    # ---------------------------------------------------------- by name or id

    def sub_routes(base: str, Key: Any, Ns: Any, resolve: Any, suffix: str) -> None:  # noqa: N803
        """The routes on one secret, addressed by ``base`` (by name, or by id).

        ``Key`` is the path parameter's type, ``Ns`` the namespace's (a query
        parameter by name, none by id).
        """

        @app.get(
            base + "/versions",
            response_model=list[SecretVersionOut],
            name="versions" + suffix,
            **out,
        )
        async def versions(
            token: Read, key: Key, namespace: Ns = None
        ) -> list[SecretVersionOut]:
            """Value versions, newest first."""
            name, ns = await resolve(token, key, namespace)
            secret = await call(_get_live, sm, name, ns)
            found = await call(sm.versions, name, namespace=ns)
            return [_version(secret.id, v) for v in found]

        @app.post(
            base + "/rollback/{version}",
            response_model=SecretOut,
            name="rollback" + suffix,
            **out,
        )
        async def rollback(
            token: Write,
            key: Key,
            version: VersionParam,
            namespace: Ns = None,
        ) -> SecretOut:
            """A new version carrying an old version's value."""
            name, ns = await resolve(token, key, namespace)
            return _out(
                await call(
                    lambda: sm.rollback(name, version, namespace=ns, actor=token.actor)
                )
            )

        @app.get(base + "/value", response_model=ValueOut, name="value" + suffix, **out)
        async def value(
            token: Reveal,
            key: Key,
            namespace: Ns = None,
            version: Annotated[int | None, Query(ge=1, le=check.MAX_COUNT)] = None,
            app_name: Annotated[
                str | None,
                Query(
                    alias="app", max_length=check.MAX_LABEL, pattern=check.LABEL_PATTERN
                ),
            ] = None,
            env: LabelQuery = None,
        ) -> ValueOut:
            """The value (current, or ``version``): needs ``secrets:reveal``.

            A secret restricted to apps or envs needs ``app`` and ``env`` naming
            allowed ones (a token bound to an app and env names them itself).
            Every reveal is recorded: who, which version, when.
            """
            name, ns = await resolve(token, key, namespace)
            caller = token.caller(app_name, env)
            found, revealed = await call(
                lambda: sm.reveal_with_version(
                    name,
                    namespace=ns,
                    version=version,
                    caller=caller,
                    actor=token.actor,
                    audit=True,
                )
            )
            return ValueOut(name=name, namespace=ns, version=revealed, value=found)

        def toggle_route(verb: str, doc: str) -> None:
            async def toggle(token: Write, key: Key, namespace: Ns = None) -> SecretOut:
                name, ns = await resolve(token, key, namespace)

                def run() -> Secret:
                    getattr(sm, verb)(name, namespace=ns, actor=token.actor)
                    return sm.get(name, namespace=ns)

                return _out(await call(run))

            toggle.__doc__ = doc
            app.post(
                base + "/" + verb, response_model=SecretOut, name=verb + suffix, **out
            )(toggle)

        toggle_route("revoke", "Stop reveals until reinstated (idempotent).")
        toggle_route("reinstate", "Allow reveals again (idempotent).")

        @app.get(
            base + "/history",
            response_model=list[AuditOut],
            name="history" + suffix,
            **out,
        )
        async def history(
            token: Read, key: Key, namespace: Ns = None
        ) -> list[AuditOut]:
            """Every recorded action on the secret, from the event log."""
            name, ns = await resolve(token, key, namespace)
            return [
                _audit(entry) for entry in await call(sm.history, name, namespace=ns)
            ]

        @app.get(base, response_model=SecretOut, name="get" + suffix, **out)
        async def get(token: Read, key: Key, namespace: Ns = None) -> SecretOut:
            """A secret's metadata."""
            name, ns = await resolve(token, key, namespace)
            return _out(await call(_get_live, sm, name, ns))

        @app.put(base, response_model=SecretOut, name="update" + suffix, **out)
        async def update(
            token: Write, key: Key, body: UpdateIn, namespace: Ns = None
        ) -> SecretOut:
            """Change the value and/or metadata (a new value is a new version)."""
            name, ns = await resolve(token, key, namespace)
            return _out(await call(_update, sm, name, ns, body, token))

        @app.delete(
            base, response_model=MessageOut, responses=errors, name="delete" + suffix
        )
        async def delete(token: Write, key: Key, namespace: Ns = None) -> MessageOut:
            """Crypto-shred the secret; its name stays reserved."""
            name, ns = await resolve(token, key, namespace)
            await call(_delete, sm, name, ns, token)
            return MessageOut(message="Secret deleted successfully")

    @app.patch(
        PREFIX + "/by-name/{name}",
        response_model=SecretOut,
        openapi_extra={
            "parameters": [
                {
                    "name": "If-Match",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": '^"?[1-9][0-9]{0,17}"?$'},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    media: {
                        "schema": {"type": "object", "maxProperties": check.MAX_TAGS}
                    }
                    for media in ("application/merge-patch+json", "application/json")
                },
            },
        },
        **out,
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
        name, namespace = await address(token, name, namespace)
        raw = await request.body()
        if not shallow_enough(raw):
            msg = f"the merge patch is nested deeper than {check.MAX_JSON_DEPTH} levels"
            raise ValidationError(msg)
        try:
            changes = json.loads(raw)
        except ValueError:
            msg = "the body must be a JSON merge patch"
            raise ValidationError(msg) from None
        if not isinstance(changes, dict):
            msg = "the merge patch must be a JSON object"
            raise ValidationError(msg)
        header = request.headers.get("if-match")
        expected = None if header is None else check.parse_version(header)
        return _out(
            await call(_merge_patch, sm, name, namespace, changes, expected, token)
        )

    # ---------------------------------------------------------- audit, batch

    @app.get(
        PREFIX + "/audit",
        responses={200: {"content": {"application/x-ndjson": {}}}, **errors},
        response_class=StreamingResponse,
    )
    async def audit(
        token: Read,
        since: MomentQuery = None,
        until: MomentQuery = None,
        actor: LabelQuery = None,
        namespace: NamespaceQuery = None,
        action: Annotated[
            str | None, Query(json_schema_extra={"enum": [str(a) for a in Action]})
        ] = None,
    ) -> StreamingResponse:
        """Recorded actions across the store, as NDJSON, in log order.

        The query runs before the answer starts, so a bad filter is a 400 and a
        failing query a 5xx; a failure mid-stream aborts the response, so a cut
        stream is never mistaken for a complete one.
        """
        if token.namespace is not None:
            namespace = token.namespace_for(namespace or token.namespace)

        def first() -> tuple[list[Any], Iterator[Any]]:
            entries = sm.audit(
                since=since,
                until=until,
                actor=actor,
                namespace=namespace,
                action=action,
            )
            return [next(entries, None)], entries

        head, rest = await call(first)

        def lines() -> Iterator[bytes]:
            for entry in chain(head, rest):
                if entry is not None:
                    yield (
                        _audit(entry).model_dump_json(exclude_none=True).encode()
                        + b"\n"
                    )

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.post(PREFIX + "/batch/values", response_model=BatchOut, **out)
    async def batch_values(token: Reveal, body: BatchIn) -> BatchOut:
        """Reveal several values; each name gets its value or its error (audited).

        ``app`` and ``env`` name the caller, as for ``/value``.
        """
        namespace = token.namespace_for(body.namespace)
        caller = token.caller(body.app, body.env)

        def reveal_all() -> BatchOut:
            results = []
            for name in body.names:
                try:
                    found, version = sm.reveal_with_version(
                        name,
                        namespace=namespace,
                        caller=caller,
                        actor=token.actor,
                        audit=True,
                    )
                    results.append(
                        BatchItemOut(name=name, version=version, value=found)
                    )
                except StrongroomError as exc:
                    _, error, code = answer_for(exc)
                    results.append(BatchItemOut(name=name, error=error, code=code))
            return BatchOut(results=results)

        answer: BatchOut = await call(reveal_all)
        return answer

    # ---------------------------------------------------------- keys

    def keys_token(scope: str) -> Callable[[Request], Awaitable[ApiToken]]:
        verify = bearer(scope)

        async def store_wide(request: Request) -> ApiToken:
            token = await verify(request)
            token.check_store_wide()
            return token

        return store_wide

    KeysRead = Annotated[ApiToken, Depends(keys_token("keys:read"))]
    KeysWrite = Annotated[ApiToken, Depends(keys_token("keys:write"))]
    # The schema states the library's key id rule, so clients know it up front.
    KeyIdParam = Annotated[
        str,
        Path(min_length=1, max_length=check.MAX_KEY_ID, pattern=check.LABEL_PATTERN),
    ]

    @app.get("/api/v1/keys/{key_id:path}", response_model=KeyOut, responses=errors)
    async def get_key(_: KeysRead, key_id: KeyIdParam) -> KeyOut:
        """The secret of an aggregate key id (404: never set, or deleted)."""
        found = await call(sm.keys.get_secret, key_id)
        if found is None:
            raise ApiError(404, f"no key under id {key_id!r}", "not_found")
        return KeyOut(id=key_id, secret=found)

    @app.put(
        "/api/v1/keys/{key_id:path}",
        status_code=201,
        response_model=KeyOut,
        responses=errors,
    )
    async def put_key(_: KeysWrite, key_id: KeyIdParam, body: KeyIn) -> KeyOut:
        """Set the secret of a never-used id (409 for any id used before)."""
        await call(sm.keys.set_secret, key_id, body.secret)
        return KeyOut(id=key_id, secret=body.secret)

    @app.delete(
        "/api/v1/keys/{key_id:path}", response_model=MessageOut, responses=errors
    )
    async def delete_key(_: KeysWrite, key_id: KeyIdParam) -> MessageOut:
        """Destroy the secret of an id; the id stays used forever."""
        if not await call(sm.keys.delete_secret, key_id):
            raise ApiError(404, f"no live key under id {key_id!r}", "not_found")
        return MessageOut(message="Key deleted successfully")

    # By name before by id: ``/by-name/*``, ``/stats`` and ``/audit`` are not ids.
    sub_routes(
        PREFIX + "/by-name/{name}", NameParam, NamespaceQuery, address, "_by_name"
    )
    IdParam = Annotated[UUID, Path(alias="secret_id", description="The secret's id.")]
    # An id names one secret: there is no namespace parameter to give.
    NoNamespace = Annotated[None, Depends(lambda: None)]
    sub_routes(PREFIX + "/{secret_id}", IdParam, NoNamespace, by_id, "_by_id")
    return app


# ------------------------------------------------------------------ helpers


def _out(secret: Secret) -> SecretOut:
    return SecretOut(
        id=secret.id,
        name=secret.name,
        scope="global" if secret.namespace is None else "namespace",
        namespace=secret.namespace,
        description=secret.description,
        version=secret.version,
        expires_at=secret.expires_at,
        created_at=secret.created_at,
        updated_at=secret.updated_at,
        created_by=secret.created_by,
        updated_by=secret.updated_by,
        # Extensions appear only when set, so Fluxbase's shape stays as it is.
        token_type=secret.token_type,
        allowed_apps=list(secret.allowed_apps) or None,
        envs=list(secret.envs) or None,
        tags=dict(secret.tags) or None,
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


def _audit(entry: Any) -> AuditOut:
    return AuditOut.model_validate(entry, from_attributes=True)


def _merge_patch(
    sm: SecretsManager,
    name: str,
    namespace: str | None,
    changes: dict[str, Any],
    expected: int | None,
    token: ApiToken,
) -> Secret:
    for _ in range(5):
        old, version = sm.reveal_with_version(name, namespace=namespace, audit=False)
        if expected is not None and expected != version:
            msg = f"secret {name!r} is at version {version}"
            raise ApiError(412, msg, "precondition_failed")
        try:
            return sm.update(
                name,
                namespace=namespace,
                value=apply_merge_patch(old, changes),
                expected_version=version,
                actor=token.actor,
            )
        except VersionConflictError:
            if expected is not None:
                msg = f"secret {name!r} changed meanwhile"
                raise ApiError(412, msg, "precondition_failed") from None
    msg = f"secret {name!r} kept changing; the patch gave up"
    raise VersionConflictError(msg)


def _all_secrets(
    sm: SecretsManager, scope: str | None, namespace: str | None, cursor: str | None
) -> Iterator[Secret]:
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
        msg = "at least one field (value, description, expires_at, ...) must be given"
        raise ValidationError(msg)
    if given.get("value", "") is None:
        del given["value"]  # a value cannot be cleared: null means "unchanged"
    if not given:
        return _get_live(sm, name, namespace)
    return sm.update(name, namespace=namespace, actor=token.actor, **given)


def _delete(
    sm: SecretsManager, name: str, namespace: str | None, token: ApiToken
) -> None:
    if not sm.delete(name, namespace=namespace, actor=token.actor):
        _get_live(sm, name, namespace)  # raises: 404 never existed, 410 deleted
        msg = f"secret {name!r} appeared while being deleted; try again"
        raise VersionConflictError(msg)
