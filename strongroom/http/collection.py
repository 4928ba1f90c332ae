"""Routes on the collection: list, stats, create, audit, batch reveal."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from strongroom import Action, Page
from strongroom.domain.errors import StrongroomError, ValidationError
from strongroom.http.auth import Manager, Read, ReadLater, RevealLater, WriteLater
from strongroom.http.errors import answer_for
from strongroom.http.middleware import PREFIX
from strongroom.http.params import (
    ERRORS,
    OUT,
    LabelQuery,
    MomentQuery,
    NamespaceQuery,
)
from strongroom.http.schemas import (
    BatchIn,
    BatchItemOut,
    BatchOut,
    CreateIn,
    SecretOut,
    SecretSummaryOut,
    StatsOut,
)
from strongroom.http.views import (
    all_secrets,
    answer,
    answer_list,
    audit_out,
    secret_out,
    summary_out,
)

router = APIRouter()
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, pattern=r"^[!-~]+$"),
]


@router.get(PREFIX, response_model=list[SecretSummaryOut], **OUT)
@router.get(
    PREFIX + "/", response_model=list[SecretSummaryOut], include_in_schema=False, **OUT
)
async def list_secrets(
    *,
    given: ReadLater,
    sm: Manager,
    request: Request,
    scope: Annotated[Literal["global", "namespace"] | None, Query()] = None,
    namespace: NamespaceQuery = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    rotation_due: bool = False,
) -> Response:
    """Live secrets' metadata (global first, then by namespace and name);
    ``rotation_due``: only those whose next rotation time has come.

    Without ``limit``, every one (Fluxbase's contract); with it, one page, and
    a ``Link: <...>; rel="next"`` header while more remain.
    """

    def run() -> list[SecretSummaryOut] | Page:
        token = given.verify(sm)
        wanted_scope, wanted_ns = scope, namespace
        if token.namespace is not None:
            if scope == "global" or namespace not in {None, token.namespace}:
                return []
            wanted_scope, wanted_ns = "namespace", token.namespace
        if limit is None:
            found = all_secrets(sm, wanted_scope, wanted_ns, cursor, rotation_due)
            return [summary_out(secret) for secret in found]
        return sm.list(
            scope=wanted_scope,
            namespace=wanted_ns,
            rotation_due=rotation_due,
            limit=limit,
            cursor=cursor,
        )

    page = await run_in_threadpool(run)
    if isinstance(page, list):
        return answer_list(page)
    if page.next_cursor is not None:
        query = {k: v for k, v in request.query_params.items() if k != "cursor"}
        link = f"{PREFIX}?{urlencode({**query, 'cursor': page.next_cursor})}"
        response = answer_list([summary_out(secret) for secret in page.items])
        response.headers["Link"] = f'<{link}>; rel="next"'
        return response
    return answer_list([summary_out(secret) for secret in page.items])


@router.get(PREFIX + "/stats", response_model=StatsOut, responses=ERRORS)
async def stats(token: Read, sm: Manager) -> StatsOut:
    """Counts of secrets (a bound token counts its namespace only)."""
    found = await run_in_threadpool(lambda: sm.stats(namespace=token.namespace))
    return StatsOut(
        total=found.total,
        expiring_soon=found.expiring_soon,
        expired=found.expired,
        active=found.active,
        revoked=found.revoked,
        deleted=found.deleted,
        pending_deletion=found.pending_deletion,
        rotation_due=found.rotation_due,
    )


@router.post(PREFIX, status_code=201, response_model=SecretOut, **OUT)
@router.post(
    PREFIX + "/",
    status_code=201,
    response_model=SecretOut,
    include_in_schema=False,
    **OUT,
)
async def create(
    given_token: WriteLater,
    sm: Manager,
    body: CreateIn,
    idempotency_key: IdempotencyKey = None,
) -> Response:
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
    wanted = body.namespace if scope == "namespace" else None

    def run() -> Response:
        token = given_token.verify(sm)
        secret = sm.create(
            body.name,
            body.value,
            namespace=token.namespace_for(wanted),
            actor=token.actor,
            request_id=idempotency_key,
            **given,
        )
        return answer(secret_out(secret), 201)

    return await run_in_threadpool(run)


@router.get(
    PREFIX + "/audit",
    responses={200: {"content": {"application/x-ndjson": {}}}, **ERRORS},
    response_class=StreamingResponse,
)
async def audit(
    token: Read,
    sm: Manager,
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
            since=since, until=until, actor=actor, namespace=namespace, action=action
        )
        return [next(entries, None)], entries

    head, rest = await run_in_threadpool(first)

    def lines() -> Iterator[bytes]:
        for entry in chain(head, rest):
            if entry is not None:
                yield (
                    audit_out(entry).model_dump_json(exclude_none=True).encode() + b"\n"
                )

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.post(PREFIX + "/batch/values", response_model=BatchOut, **OUT)
async def batch_values(given: RevealLater, sm: Manager, body: BatchIn) -> Response:
    """Reveal several values; each name gets its value or its error (audited).

    ``app`` and ``env`` name the caller, as for ``/value``. The reveals are
    recorded in one transaction.
    """

    def reveal_all() -> Response:
        token = given.verify(sm)
        found = sm.reveal_many_with_versions(
            body.names,
            namespace=token.namespace_for(body.namespace),
            caller=token.caller(body.app, body.env),
            actor=token.actor,
            audit=True,
        )
        results = []
        for name, result in found.items():
            if isinstance(result, StrongroomError):
                _, error, code = answer_for(result)
                results.append(BatchItemOut(name=name, error=error, code=code))
            else:
                value, version = result
                results.append(BatchItemOut(name=name, version=version, value=value))
        return answer(BatchOut(results=results))

    return await run_in_threadpool(reveal_all)
