"""The secrets projection's rows, filters and listing cursors (no storage here:
``postgres.py`` and ``sqlite.py`` store them, ``secrets.py`` makes them)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from strongroom.domain import validation as check
from strongroom.domain.errors import ValidationError
from strongroom.domain.results import Action, Status


@dataclass
class Row:
    """One listing row: a secret's current metadata (never its value)."""

    id: UUID
    name: str
    namespace: str | None
    version: int
    status: str
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None
    description: str | None = None
    token_type: str | None = None
    allowed_apps: list[str] = field(default_factory=list)
    envs: list[str] = field(default_factory=list)
    expires_at: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    deletion_date: datetime | None = None
    rotation_interval: int | None = None  # seconds
    last_rotated_at: datetime | None = None
    next_rotation_at: datetime | None = None

    @property
    def ns_key(self) -> str:
        """Sort key of the namespace: globals ('') sort first."""
        return self.namespace or ""


@dataclass(frozen=True)
class AuditRow:
    """One indexed event of a secret."""

    position: int
    secret_id: UUID
    action: str
    actor: str | None
    at: datetime
    version: int | None


@dataclass(frozen=True)
class ListFilter:
    """Filters of a listing (already validated)."""

    namespace: str | None = None
    scope: str | None = None
    prefix: str | None = None
    app: str | None = None
    env: str | None = None
    status: str | None = None
    tag: tuple[str, str] | None = None
    rotation_due: datetime | None = None  # due at this moment


@dataclass(frozen=True)
class AuditFilter:
    """Filters of an audit query."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    namespace: str | None = None
    action: str | None = None
    secret_id: UUID | None = None
    prefix: str | None = None
    changes_only: bool = False  # leave reveals out: the change feed


@dataclass(frozen=True)
class Counts:
    """Counter totals of one scope (whole store or one namespace)."""

    by_status: dict[str, int]
    by_namespace: dict[str, int]
    expired: int
    expiring_soon: int
    rotation_due: int = 0


def expiring(rows: Sequence[Row]) -> list[tuple[UUID, str, datetime]]:
    """The live rows among ``rows`` that have an expiry, for the expiry index.

    Expiry counts are taken at query time from this index alone, so stats cost the
    same among a thousand secrets and a million (a filter on the listing left the
    plan to table statistics, and a stale estimate meant a full scan).
    """
    return [
        (row.id, row.ns_key, row.expires_at)
        for row in rows
        if row.expires_at is not None and str(row.status) != "deleted"
    ]


# ----------------------------------------------------------------- cursors


def encode_cursor(row: Row) -> str:
    """An opaque keyset cursor pointing after ``row``."""
    raw = json.dumps([row.ns_key, row.name], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The keyset position of a cursor; ValidationError if it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        ns_key, name = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        msg = "invalid cursor"
        raise ValidationError(msg) from None
    if not isinstance(ns_key, str) or not isinstance(name, str):
        msg = "invalid cursor"
        raise ValidationError(msg)
    # A forged cursor reaches the query: it must hold only storable text.
    check.check_text(ns_key, "cursor", check.MAX_LABEL)
    check.check_text(name, "cursor", check.MAX_LABEL)
    return ns_key, name


ACTIONS = frozenset(str(a) for a in Action)
STATUSES = frozenset(str(s) for s in Status)
