"""API tokens of the HTTP API: event-sourced, so their creation and revocation are
audited like everything else. Only a hash of the token's secret part is recorded."""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from typing import ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from strongroom.domain.access import Caller
from strongroom.domain.errors import AccessDeniedError

SCOPES = (
    "secrets:read",
    "secrets:reveal",
    "secrets:write",
    "keys:read",
    "keys:write",
    "admin",
)
"""Every scope a token can carry; ``admin`` implies all the others."""


ACCESS_KEY_PREFIX = "SRAK"
"""AWS access key ids are the token's id after this (``SRAK`` + 32 hex digits)."""


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
        # Added later: tokens recorded before have no app or env binding.
        app: str | None = None
        env: str | None = None
        # Added later: an AWS access key's secret, which verifying a Signature
        # Version 4 needs itself (not a hash); the event is sealed under the
        # store key like every kept event.
        aws_secret: str | None = field(default=None, repr=False)

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
        app: str | None = None,
        env: str | None = None,
        aws_secret: str | None = None,
    ) -> None:
        self.name = name
        self.aws_secret = aws_secret
        self.app = app
        self.env = env
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
        app: str | None = None,
        env: str | None = None,
        aws_secret: str | None = None,
    ) -> ApiToken:
        """Record a new token (an AWS access key too, with ``aws_secret``)."""
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
            app=app,
            env=env,
            aws_secret=aws_secret,
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

    @property
    def access_key_id(self) -> str | None:
        """The AWS access key id of the token, if it is one: its id, in AWS's form."""
        return (
            None if self.aws_secret is None else ACCESS_KEY_PREFIX + self.id.hex.upper()
        )

    @property
    def actor(self) -> str:
        """How the log records this token's actions: by id, which is unique."""
        return f"token:{self.id}"

    @property
    def bound(self) -> bool:
        """Whether the token is bound to a namespace, an app or an env."""
        return (self.namespace, self.app, self.env) != (None, None, None)

    def namespace_for(self, namespace: str | None) -> str | None:
        """``namespace`` if the token may act there, else AccessDeniedError."""
        if self.namespace is not None and namespace != self.namespace:
            msg = "the token is bound to another namespace"
            raise AccessDeniedError(msg)
        return namespace

    def caller(self, app: str | None, env: str | None) -> Caller:
        """The strict caller this token reveals as: its bound app and env win."""
        for what, given, bound in (("app", app, self.app), ("env", env, self.env)):
            if bound is not None and given not in {None, bound}:
                msg = f"the token is bound to another {what}"
                raise AccessDeniedError(msg)
        return Caller(
            app=self.app or app,
            env=self.env or env,
            strict=True,
            namespace=self.namespace,
        )

    def check_store_wide(self) -> None:
        """Store-wide resources (aggregate keys) are for unbound tokens only."""
        if self.bound:
            msg = "a token bound to a namespace, app or env cannot use store-wide keys"
            raise AccessDeniedError(msg)
