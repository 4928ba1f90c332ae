"""What the secret routes answer with, and the steps they take on the library.

Result -> response mapping, and the few multi-call steps of the HTTP contract:
Fluxbase's update and delete answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from fastapi import Response
from pydantic import BaseModel, TypeAdapter

from strongroom import Secret, SecretsManager, SecretVersion
from strongroom.domain.errors import (
    SecretDeletedError,
    ValidationError,
    VersionConflictError,
)
from strongroom.domain.tokens import ApiToken
from strongroom.http.schemas import (
    AuditOut,
    SecretOut,
    SecretSummaryOut,
    SecretVersionOut,
    UpdateIn,
)

_VERSION_IDS = uuid.UUID("6f1d3c0e-5a7b-4c1e-9d2f-7b8a9c0d1e2f")


def answer(body: BaseModel, status: int = 200) -> Response:
    """``body`` as the response, serialized once: a route's declared response model
    already made it, so FastAPI's second validation of it is skipped."""
    content = body.model_dump_json(exclude_none=True)  # as OUT's routes declare
    return Response(content, status, media_type="application/json")


_SUMMARIES = TypeAdapter(list[SecretSummaryOut])


def answer_list(items: list[SecretSummaryOut]) -> Response:
    """A JSON array of summaries as the response, serialized once."""
    body = _SUMMARIES.dump_json(items, exclude_none=True)
    return Response(body, media_type="application/json")


def secret_out(secret: Secret) -> SecretOut:
    """A secret's metadata as Fluxbase's ``Secret`` (extensions only when set)."""
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


def summary_out(secret: Secret) -> SecretSummaryOut:
    """A listing entry: the metadata and whether it has expired."""
    return SecretSummaryOut(
        **secret_out(secret).model_dump(), is_expired=secret.is_expired
    )


def version_out(secret_id: UUID, version: SecretVersion) -> SecretVersionOut:
    """A value version, with a stable id derived from the secret and the version."""
    return SecretVersionOut(
        id=uuid.uuid5(_VERSION_IDS, f"{secret_id}/{version.version}"),
        secret_id=secret_id,
        version=version.version,
        created_at=version.created_at,
        created_by=version.created_by,
    )


def audit_out(entry: Any) -> AuditOut:
    """One recorded action."""
    return AuditOut.model_validate(entry, from_attributes=True)


def all_secrets(
    sm: SecretsManager, scope: str | None, namespace: str | None, cursor: str | None
) -> Iterator[Secret]:
    """Every live secret in listing order, a page of 1,000 at a time."""
    while True:
        page = sm.list(scope=scope, namespace=namespace, limit=1000, cursor=cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def get_live(sm: SecretsManager, name: str, namespace: str | None) -> Secret:
    """The secret's metadata: 404 if it never existed, 410 if it was deleted."""
    found = sm.get(name, namespace=namespace, include_deleted=True)
    if found.status.value == "deleted":
        msg = f"secret {name!r} was deleted"
        raise SecretDeletedError(msg)
    return found


def update(
    sm: SecretsManager,
    name: str,
    namespace: str | None,
    body: UpdateIn,
    token: ApiToken,
) -> Secret:
    """Fluxbase's update: the given fields; a null value leaves the value as it is."""
    given = body.model_dump(exclude_unset=True)
    if not given:
        msg = "at least one field (value, description, expires_at, ...) must be given"
        raise ValidationError(msg)
    if given.get("value", "") is None:
        del given["value"]  # a value cannot be cleared: null means "unchanged"
    if not given:
        return get_live(sm, name, namespace)
    return sm.update(name, namespace=namespace, actor=token.actor, **given)


def delete(
    sm: SecretsManager, name: str, namespace: str | None, token: ApiToken
) -> None:
    """Crypto-shred the secret: 404 if it never existed, 410 if already deleted."""
    if not sm.delete(name, namespace=namespace, actor=token.actor):
        get_live(sm, name, namespace)  # raises: 404 never existed, 410 deleted
        msg = f"secret {name!r} appeared while being deleted; try again"
        raise VersionConflictError(msg)
