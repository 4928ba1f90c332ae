"""Routes on one secret, by name (``/by-name/{name}``) or by id (``/{id}``).

Both addresses share one handler per route: ``secret_routes`` registers them for
an address, given how that address resolves to a name and a namespace.
"""

# FastAPI reads these handlers' annotations at definition time (they are made per
# address), so this module does not postpone them.

import json
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from strongroom import Secret, SecretsManager
from strongroom.domain import validation as check
from strongroom.domain.errors import ValidationError, VersionConflictError
from strongroom.domain.tokens import ApiToken
from strongroom.http.auth import Manager, Read, ReadLater, RevealLater, Write
from strongroom.http.errors import ApiError
from strongroom.http.middleware import PREFIX, name_of, shallow_enough
from strongroom.http.params import (
    ERRORS,
    OUT,
    AppQuery,
    LabelQuery,
    NameParam,
    NamespaceQuery,
    RecoveryWindowQuery,
    VersionParam,
    VersionQuery,
)
from strongroom.http.schemas import (
    AuditOut,
    MessageOut,
    RotateIn,
    SecretOut,
    SecretVersionOut,
    UpdateIn,
    ValueOut,
)
from strongroom.http.views import (
    answer,
    audit_out,
    delete,
    get_live,
    rotate_secret,
    secret_out,
    update,
    version_out,
)

Address = tuple[str, str | None]
Resolve = Callable[[SecretsManager, ApiToken, Any, Any], Address]
router = APIRouter()
"""Routes by name: matched first (most requests name a secret by name)."""
by_id_router = APIRouter()
"""Routes by id: matched last (``/{id}`` would take ``/stats``, ``/audit``)."""


def by_name(
    sm: SecretsManager, token: ApiToken, name: str, namespace: str | None
) -> Address:
    """The secret a by-name route names, once the token may act there."""
    del sm
    return name_of(name), token.namespace_for(namespace)


def by_id(sm: SecretsManager, token: ApiToken, secret_id: UUID, _: None) -> Address:
    """The address of a live secret by id (404 outside the token's namespace)."""
    secret = sm.get_by_id(secret_id)
    if token.namespace is not None and secret.namespace != token.namespace:
        # Do not tell a bound token what exists elsewhere.
        raise ApiError(404, f"secret {secret_id} not found", "not_found")
    return secret.name, secret.namespace


def secret_routes(
    router: APIRouter, base: str, Key: Any, Ns: Any, resolve: Resolve, suffix: str
) -> None:
    """Register the routes on one secret at ``base``.

    ``Key`` is the path parameter's type, ``Ns`` the namespace's (a query
    parameter by name, none by id).
    """

    async def resolve_async(
        sm: SecretsManager, token: ApiToken, key: Any, namespace: Any
    ) -> Address:
        if resolve is by_name:  # no database: no need for the threadpool
            return resolve(sm, token, key, namespace)
        return await run_in_threadpool(resolve, sm, token, key, namespace)

    @router.get(
        base + "/versions",
        response_model=list[SecretVersionOut],
        name="versions" + suffix,
        **OUT,
    )
    async def versions(
        token: Read, sm: Manager, key: Key, namespace: Ns = None
    ) -> list[SecretVersionOut]:
        """Value versions, newest first."""
        name, ns = await resolve_async(sm, token, key, namespace)
        secret = await run_in_threadpool(get_live, sm, name, ns)
        found = await run_in_threadpool(sm.versions, name, namespace=ns)
        return [version_out(secret.id, v) for v in found]

    @router.post(
        base + "/rollback/{version}",
        response_model=SecretOut,
        name="rollback" + suffix,
        **OUT,
    )
    async def rollback(
        token: Write, sm: Manager, key: Key, version: VersionParam, namespace: Ns = None
    ) -> SecretOut:
        """A new version carrying an old version's value."""
        name, ns = await resolve_async(sm, token, key, namespace)
        return secret_out(
            await run_in_threadpool(
                lambda: sm.rollback(name, version, namespace=ns, actor=token.actor)
            )
        )

    @router.get(base + "/value", response_model=ValueOut, name="value" + suffix, **OUT)
    async def value(
        *,
        given: RevealLater,
        sm: Manager,
        key: Key,
        namespace: Ns = None,
        version: VersionQuery = None,
        stage: LabelQuery = None,
        app_name: AppQuery = None,
        env: LabelQuery = None,
        expand: bool = False,
    ) -> Response:
        """The value (current, ``version``, or the version ``stage`` is on):
        needs ``secrets:reveal``.

        A secret restricted to apps or envs needs ``app`` and ``env`` naming
        allowed ones (a token bound to an app and env names them itself).
        Every reveal is recorded: who, which version, when. With ``expand``,
        ``${name}`` references are resolved as the same caller, each read
        recorded; the token reaches nothing through them it could not read.
        """

        def run() -> Response:
            token = given.verify(sm)
            name, ns = resolve(sm, token, key, namespace)
            found, revealed = sm.reveal_with_version(
                name,
                namespace=ns,
                version=version,
                stage=stage,
                caller=token.caller(app_name, env),
                actor=token.actor,
                audit=True,
                expand=expand,
            )
            return answer(
                ValueOut(name=name, namespace=ns, version=revealed, value=found)
            )

        return await run_in_threadpool(run)

    def toggle_route(verb: str, doc: str) -> None:
        async def toggle(
            token: Write, sm: Manager, key: Key, namespace: Ns = None
        ) -> SecretOut:
            name, ns = await resolve_async(sm, token, key, namespace)

            def run() -> Secret:
                getattr(sm, verb)(name, namespace=ns, actor=token.actor)
                return sm.get(name, namespace=ns)

            return secret_out(await run_in_threadpool(run))

        toggle.__doc__ = doc
        router.post(
            base + "/" + verb, response_model=SecretOut, name=verb + suffix, **OUT
        )(toggle)

    toggle_route("revoke", "Stop reveals until reinstated (idempotent).")
    toggle_route("reinstate", "Allow reveals again (idempotent).")
    toggle_route("restore", "Cancel a scheduled deletion (idempotent).")

    @router.post(
        base + "/rotate", response_model=SecretOut, name="rotate" + suffix, **OUT
    )
    async def rotate(
        request: Request,
        token: Write,
        sm: Manager,
        key: Key,
        body: RotateIn,
        namespace: Ns = None,
    ) -> SecretOut:
        """Rotate: a new pending version (``value``, else generated), the
        server's configured hook (set, test), then it becomes current. 502 when
        a step fails (current untouched); rotating again resumes."""
        name, ns = await resolve_async(sm, token, key, namespace)
        hook = request.app.state.rotation_hook
        return secret_out(
            await run_in_threadpool(rotate_secret, sm, name, ns, body, token, hook)
        )

    @router.get(
        base + "/history", response_model=list[AuditOut], name="history" + suffix, **OUT
    )
    async def history(
        token: Read, sm: Manager, key: Key, namespace: Ns = None
    ) -> list[AuditOut]:
        """Every recorded action on the secret, from the event log."""
        name, ns = await resolve_async(sm, token, key, namespace)
        entries = await run_in_threadpool(sm.history, name, namespace=ns)
        return [audit_out(entry) for entry in entries]

    @router.get(base, response_model=SecretOut, name="get" + suffix, **OUT)
    async def get(
        given: ReadLater, sm: Manager, key: Key, namespace: Ns = None
    ) -> Response:
        """A secret's metadata."""

        def run() -> Response:
            token = given.verify(sm)
            return answer(secret_out(get_live(sm, *resolve(sm, token, key, namespace))))

        return await run_in_threadpool(run)

    @router.put(base, response_model=SecretOut, name="update" + suffix, **OUT)
    async def put(
        token: Write, sm: Manager, key: Key, body: UpdateIn, namespace: Ns = None
    ) -> SecretOut:
        """Change the value and/or metadata (a new value is a new version)."""
        name, ns = await resolve_async(sm, token, key, namespace)
        return secret_out(await run_in_threadpool(update, sm, name, ns, body, token))

    @router.delete(
        base, response_model=MessageOut, responses=ERRORS, name="delete" + suffix
    )
    async def remove(
        token: Write,
        sm: Manager,
        key: Key,
        namespace: Ns = None,
        recovery_window_days: RecoveryWindowQuery = None,
    ) -> MessageOut:
        """Crypto-shred the secret; its name stays reserved. With
        ``recovery_window_days`` (7-30) it is scheduled instead: ``/restore``
        cancels it until then."""
        name, ns = await resolve_async(sm, token, key, namespace)
        await run_in_threadpool(delete, sm, name, ns, token, recovery_window_days)
        if recovery_window_days is not None:
            return MessageOut(message="Secret scheduled for deletion")
        return MessageOut(message="Secret deleted successfully")


@router.patch(
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
                media: {"schema": {"type": "object", "maxProperties": check.MAX_TAGS}}
                for media in ("application/merge-patch+json", "application/json")
            },
        },
    },
    **OUT,
)
async def patch_by_name(
    token: Write,
    sm: Manager,
    name: NameParam,
    request: Request,
    namespace: NamespaceQuery = None,
) -> SecretOut:
    """Apply a JSON merge patch (RFC 7396) to a JSON-object value.

    ``If-Match: <version>`` makes it conditional: 412 if the secret moved on.
    """
    name, namespace = by_name(sm, token, name, namespace)
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
    try:
        patched = await run_in_threadpool(
            lambda: sm.merge_patch(
                name,
                changes,
                namespace=namespace,
                expected_version=expected,
                actor=token.actor,
            )
        )
    except VersionConflictError as exc:
        if expected is None:
            raise
        raise ApiError(412, str(exc), "precondition_failed") from None
    return secret_out(patched)


# By name before by id: ``/by-name/*``, ``/stats`` and ``/audit`` are not ids.
secret_routes(
    router, PREFIX + "/by-name/{name}", NameParam, NamespaceQuery, by_name, "_by_name"
)
IdParam = Annotated[UUID, Path(alias="secret_id", description="The secret's id.")]


# An id names one secret: there is no namespace parameter to give.
async def _no_namespace() -> None:
    return None


NoNamespace = Annotated[None, Depends(_no_namespace)]
secret_routes(
    by_id_router, PREFIX + "/{secret_id}", IdParam, NoNamespace, by_id, "_by_id"
)
