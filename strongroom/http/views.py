"""What the secret routes answer with, and the steps they take on the library.

Result -> response mapping, and the few multi-call steps of the HTTP contract:
Fluxbase's update and delete answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, Literal
from uuid import UUID

from fastapi import Response
from pydantic import BaseModel, TypeAdapter

from strongroom import Secret, SecretsManager, SecretVersion
from strongroom.domain.errors import (
    SecretDeletedError,
    ValidationError,
    VersionConflictError,
)
from strongroom.domain.generation import Generate
from strongroom.domain.lifecycle import recovery_window_days, rotation_interval_days
from strongroom.domain.results import Status
from strongroom.domain.secret_state import VERSION_IDS
from strongroom.domain.tokens import ApiToken
from strongroom.domain.validation import Value
from strongroom.http.schemas import (
    AuditOut,
    RotateIn,
    SecretOut,
    SecretSummaryOut,
    SecretVersionOut,
    UpdateIn,
)
from strongroom.services.lifecycle import RotationHook


def _version_uuid(secret_id: UUID, version: SecretVersion) -> UUID:
    """The version's id as a UUID: its given id when that is one, else derived."""
    try:
        return UUID(str(version.version_id))
    except ValueError:
        return uuid.uuid5(VERSION_IDS, f"{secret_id}/{version.version}")


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


_STATUS_OUT: dict[Status, Literal["revoked", "pending_deletion", "deleted"]] = {
    Status.REVOKED: "revoked",
    Status.PENDING_DELETION: "pending_deletion",
    Status.DELETED: "deleted",
}


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
        status=None if secret.status is Status.ACTIVE else _STATUS_OUT[secret.status],
        deletion_date=secret.deletion_date,
        rotation_interval_days=(
            None
            if secret.rotation_interval is None
            else secret.rotation_interval.total_seconds() / 86400
        ),
        last_rotated_at=secret.last_rotated_at,
        next_rotation_at=secret.next_rotation_at,
    )


def summary_out(secret: Secret) -> SecretSummaryOut:
    """A listing entry: the metadata and whether it has expired."""
    return SecretSummaryOut(
        **secret_out(secret).model_dump(), is_expired=secret.is_expired
    )


def version_out(secret_id: UUID, version: SecretVersion) -> SecretVersionOut:
    """A value version, with a stable id derived from the secret and the version."""
    return SecretVersionOut(
        id=_version_uuid(secret_id, version),
        secret_id=secret_id,
        version=version.version,
        created_at=version.created_at,
        created_by=version.created_by,
        stages=list(version.stages) or None,
    )


def audit_out(entry: Any) -> AuditOut:
    """One recorded action."""
    return AuditOut.model_validate(entry, from_attributes=True)


def all_secrets(
    sm: SecretsManager,
    scope: str | None,
    namespace: str | None,
    cursor: str | None,
    rotation_due: bool = False,  # noqa: FBT001, FBT002 - a filter, passed along
) -> Iterator[Secret]:
    """Every live secret in listing order, a page of 1,000 at a time."""
    while True:
        page = sm.list(
            scope=scope,
            namespace=namespace,
            rotation_due=rotation_due,
            limit=1000,
            cursor=cursor,
        )
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
    if "rotation_interval_days" in given:
        days = given.pop("rotation_interval_days")
        given["rotation_interval"] = (
            None if days is None else rotation_interval_days(days)
        )
    if not given:
        return get_live(sm, name, namespace)
    return sm.update(name, namespace=namespace, actor=token.actor, **given)


def rotate_secret(
    sm: SecretsManager,
    name: str,
    namespace: str | None,
    body: RotateIn,
    token: ApiToken,
    hook: RotationHook | None,
) -> Secret:
    """Rotate with the server's hook: the given value, else a generated one."""
    if body.value is not None and body.generate is not None:
        msg = "give a value or generate, not both"
        raise ValidationError(msg)
    value: Value | Generate | None = body.value
    if body.generate is not None:
        value = Generate(**body.generate.model_dump())
    return sm.rotate(
        name, namespace=namespace, hook=hook, value=value, actor=token.actor
    )


def delete(
    sm: SecretsManager,
    name: str,
    namespace: str | None,
    token: ApiToken,
    window_days: int | None = None,
) -> None:
    """Crypto-shred the secret, or schedule it: 404 if it never existed, 410 if
    already deleted; scheduling one already scheduled changes nothing."""
    window = None if window_days is None else recovery_window_days(window_days)
    if not sm.delete(
        name, namespace=namespace, recovery_window=window, actor=token.actor
    ):
        found = get_live(sm, name, namespace)  # raises: 404 never existed, 410 deleted
        if window is not None and found.status is Status.PENDING_DELETION:
            return
        msg = f"secret {name!r} appeared while being deleted; try again"
        raise VersionConflictError(msg)
