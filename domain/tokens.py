"""API tokens of the HTTP API: event-sourced, so their creation and revocation are
audited like everything else. Only a hash of the token's secret part is recorded."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

SCOPES = (
    "secrets:read",
    "secrets:reveal",
    "secrets:write",
    "keys:read",
    "keys:write",
    "admin",
)
"""Every scope a token can carry; ``admin`` implies all the others."""


class ApiToken(Aggregate):
    """A bearer token: its scopes, optional namespace binding and expiry."""

    TOPIC = "strongroom:ApiToken"

    class Created(Aggregate.Created):
        """TokenCreated: a token was issued (its secret part only as a hash)."""

        TOPIC = "strongroom:ApiToken.TokenCreated.v1"
        SHREDDABLE: ClassVar[bool] = False
        name: str | None
        digest: str
        scopes: tuple[str, ...]
        namespace: str | None
        expires_at: datetime | None
        actor: str | None

    class Revoked(Aggregate.Event):
        """TokenRevoked: the token stops working at once."""

        TOPIC = "strongroom:ApiToken.TokenRevoked.v1"
        SHREDDABLE: ClassVar[bool] = False
        actor: str | None

    def __init__(
        self,
        name: str | None,
        digest: str,
        scopes: tuple[str, ...],
        namespace: str | None,
        expires_at: datetime | None,
        actor: str | None,
    ) -> None:
        self.name = name
        self.digest = digest
        self.scopes = tuple(scopes)
        self.namespace = namespace
        self.expires_at = expires_at
        self.created_by = actor
        self.revoked = False

    def __repr__(self) -> str:
        return f"ApiToken(id={self.id}, scopes={self.scopes!r}, revoked={self.revoked})"

    @classmethod
    def issue(
        cls,
        *,
        token_id: UUID,
        name: str | None,
        digest: str,
        scopes: tuple[str, ...],
        namespace: str | None,
        expires_at: datetime | None,
        at: datetime,
        actor: str | None,
    ) -> ApiToken:
        """Record a new token."""
        return cls._create(
            cls.Created,
            id=token_id,
            timestamp=at,
            name=name,
            digest=digest,
            scopes=tuple(scopes),
            namespace=namespace,
            expires_at=expires_at,
            actor=actor,
        )

    def revoke(self, *, at: datetime, actor: str | None) -> bool:
        """Revoke the token; False if it already was."""
        if self.revoked:
            return False
        self._revoked(actor=actor, timestamp=at)
        return True

    @event(Revoked)
    def _revoked(self, actor: str | None, timestamp: datetime) -> None:
        self.revoked = True

    def allows(self, scope: str, now: datetime) -> bool:
        """Whether the token is live and carries ``scope`` (or admin)."""
        if self.revoked or (self.expires_at is not None and self.expires_at <= now):
            return False
        return scope in self.scopes or "admin" in self.scopes
