"""What every service shares: the store it works on, the clock, the default actor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from strongroom.domain import validation as check
from strongroom.infrastructure.keys import KeyRing
from strongroom.infrastructure.repository import SecretRepository
from strongroom.projections.runner import CatchUp
from strongroom.projections.secrets import SecretsView

MAX_WRITE_RETRIES = 50
"""How often a write that lost a race is tried again before VersionConflictError."""
MAX_PAGE = 1000


def now() -> datetime:
    """The current moment (services take time from here, the domain is given it)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Store:
    """One open store, as the services see it."""

    repo: SecretRepository
    keys: KeyRing
    view: SecretsView
    catch_up: CatchUp
    actor: str | None
    audit_reads: bool
    strict_access: bool


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A write made under a client's request id: where its receipt goes, and what."""

    receipt_id: UUID
    operation: str
    fingerprint: str


class Service:
    """Base of the services: the store's parts under short names."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._repo = store.repo
        self._keys = store.keys
        self._view = store.view
        self._catch_up = store.catch_up

    def _who(self, actor: str | None) -> str | None:
        return check.check_actor(actor) if actor is not None else self._store.actor


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()
"""Marks an optional argument that was not given (None means 'clear it')."""


def given_fields(**fields: Any) -> dict[str, Any]:
    """The optional fields a caller passed (those left UNSET dropped)."""
    return {key: val for key, val in fields.items() if val is not UNSET}
