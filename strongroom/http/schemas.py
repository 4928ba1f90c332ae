"""The HTTP API's request and response bodies.

Request fields are checked by the domain's validation module (``domain/validation``),
so the server accepts exactly what the library accepts; the OpenAPI document
states the same patterns and limits for clients.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from strongroom.domain import validation as check
from strongroom.domain.generation import MAX_LENGTH as MAX_GENERATED
from strongroom.domain.lifecycle import ROTATION_DAYS

__all__ = [
    "AuditOut",
    "BatchIn",
    "BatchItemOut",
    "BatchOut",
    "CreateIn",
    "ErrorOut",
    "GenerateIn",
    "HealthOut",
    "KeyIn",
    "KeyOut",
    "MessageOut",
    "RotateIn",
    "SecretOut",
    "SecretSummaryOut",
    "SecretVersionOut",
    "StatsOut",
    "UpdateIn",
    "ValueOut",
]


def _rule(rule: Any) -> AfterValidator:
    return AfterValidator(rule)


SecretName = Annotated[
    str,
    Field(pattern=check.NAME_PATTERN, max_length=check.MAX_NAME),
    _rule(check.check_name),
]
NamespaceName = Annotated[
    str, Field(pattern=check.NAMESPACE_PATTERN), _rule(check.check_namespace)
]
Description = Annotated[
    str,
    Field(max_length=check.MAX_TEXT, json_schema_extra={"pattern": check.TEXT_PATTERN}),
    _rule(lambda v: check.check_text(v, "description")),
]
Label = Annotated[
    str,
    Field(
        min_length=1,
        max_length=check.MAX_LABEL,
        json_schema_extra={"pattern": check.LABEL_PATTERN},
    ),
    _rule(lambda v: check.check_label(v, "label")),
]
# The schemas below describe a part of what the server takes, never more, so a
# client that follows them is never refused: a value of up to 16 Ki characters
# (the limit is 64 KiB of UTF-8) or a flat object; years 0002-9998.
_SCALAR = {
    "anyOf": [
        {"type": "string", "maxLength": 256},
        {"type": "integer", "minimum": -(2**53), "maximum": 2**53},
        {"type": "number", "minimum": -1e300, "maximum": 1e300},
        {"type": "boolean"},
        {"type": "null"},
    ]
}
Value = Annotated[
    str | dict[str, Any],
    _rule(check.check_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": 16 * 1024},
                {
                    "type": "object",
                    "maxProperties": 50,
                    "additionalProperties": _SCALAR,
                },
            ]
        }
    ),
]
MOMENT_TEXT = {
    "type": "string",
    "format": "date-time",
    "pattern": "^(000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}"
    "|9[0-8][0-9]{2}|99[0-8][0-9])-",
}
"""An RFC 3339 date-time in years 0002-9998 (the rule allows a day more)."""
# RFC 3339 text, or (Ductape's form) a Unix timestamp in seconds.
Moment = Annotated[
    datetime,
    BeforeValidator(lambda v: check.parse_moment(v, "expires_at")),
    WithJsonSchema(
        {
            "anyOf": [
                MOMENT_TEXT,
                {"type": "number", "minimum": -6e10, "maximum": 2.5e11},
            ]
        }
    ),
]
Tags = Annotated[
    dict[str, str],
    _rule(check.check_tags),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": check.MAX_TAGS,
            "propertyNames": {
                "minLength": 1,
                "maxLength": check.MAX_TAG_KEY,
                "pattern": check.LABEL_PATTERN,
            },
            "additionalProperties": {
                "type": "string",
                "maxLength": check.MAX_TAG_VALUE,
                "pattern": check.LABEL_PATTERN.replace("]+$", "]*$"),
            },
        }
    ),
]


class ErrorOut(BaseModel):
    """Every error response."""

    error: str
    code: str


class SecretOut(BaseModel):
    """A secret's metadata (Fluxbase ``Secret``, plus extensions): never its value."""

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
    token_type: str | None = None
    allowed_apps: list[str] | None = None
    envs: list[str] | None = None
    tags: dict[str, str] | None = None
    status: Literal["revoked", "pending_deletion", "deleted"] | None = None
    deletion_date: datetime | None = None
    rotation_interval_days: float | None = None
    last_rotated_at: datetime | None = None
    next_rotation_at: datetime | None = None


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
    stages: list[str] | None = None


class StatsOut(BaseModel):
    """Counts (Fluxbase's three, then strongroom's)."""

    total: int
    expiring_soon: int
    expired: int
    active: int
    revoked: int
    deleted: int
    pending_deletion: int = 0
    rotation_due: int = 0


class _Extensions(BaseModel):
    """Fields beyond Fluxbase's: Ductape's and OCP's, all optional."""

    token_type: Label | None = None
    allowed_apps: list[Label] | None = Field(default=None, max_length=100)
    envs: list[Label] | None = Field(default=None, max_length=100)
    tags: Tags | None = None


class CreateIn(_Extensions):
    """Body of ``POST /``: Fluxbase's fields; ``scope`` may also be Ductape's app list."""

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
    value: Value
    scope: Literal["global", "namespace"] | list[Label] | None = None
    namespace: NamespaceName | None = None
    description: Description | None = None
    expires_at: Moment | None = None


class UpdateIn(_Extensions):
    """Body of ``PUT``: at least one field; null leaves the value unchanged."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    value: Value | None = None
    description: Description | None = None
    expires_at: Moment | None = None
    rotation_interval_days: int | None = Field(
        default=None,
        ge=ROTATION_DAYS[0],
        le=ROTATION_DAYS[1],
        description="Due for rotation this many days after the last rotation.",
    )


class GenerateIn(BaseModel):
    """How to generate a value (AWS ``GetRandomPassword``'s parameters)."""

    model_config = ConfigDict(extra="forbid")

    length: int = Field(default=32, ge=1, le=MAX_GENERATED)
    exclude_characters: str = Field(default="", max_length=MAX_GENERATED)
    exclude_punctuation: bool = False
    exclude_numbers: bool = False
    exclude_lowercase: bool = False
    exclude_uppercase: bool = False
    include_space: bool = False
    require_each_included_type: bool = True


class RotateIn(BaseModel):
    """Body of ``POST …/rotate``: the new value, else one generated by ``generate``."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"not": {"required": ["value", "generate"]}}
    )

    value: Value | None = None
    generate: GenerateIn | None = None


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


class ChangeOut(BaseModel):
    """One committed change (the change feed): metadata, never a value."""

    position: int
    at: datetime
    action: str
    secret_id: UUID
    name: str | None = None
    namespace: str | None = None
    version: int | None = None
    actor: str | None = None


class ChangePageOut(BaseModel):
    """A page of the change feed; pass ``position`` back as ``after`` to go on."""

    changes: list[ChangeOut]
    position: int


class BatchIn(BaseModel):
    """Body of ``POST /batch/values``: names, and the app and env asking."""

    model_config = ConfigDict(extra="forbid")

    names: list[SecretName] = Field(min_length=1, max_length=100)
    namespace: NamespaceName | None = None
    app: Label | None = None
    env: Label | None = None


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

    secret: Annotated[str, Field(min_length=1), _rule(check.check_key_secret)]


class KeyOut(BaseModel):
    """An aggregate key (the key API's ``get_secret``)."""

    id: str
    secret: str


class HealthOut(BaseModel):
    """Liveness and readiness."""

    status: str
