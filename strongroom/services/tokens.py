"""API tokens (``sm.tokens``): created, listed, verified and revoked.

A token is ``srt_<id>_<secret>``; the log records only a SHA-256 digest of the
secret part (tokens are 256-bit random, so a fast hash is enough), and verification
compares digests in constant time. Revocation applies to the very next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, cast
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from strongroom._store_errors import translate_store_errors
from strongroom.domain import validation as check
from strongroom.domain.errors import ValidationError
from strongroom.domain.tokens import ACCESS_KEY_PREFIX, SCOPES, ApiToken
from strongroom.infrastructure.recorders import KeyStoreRecorder
from strongroom.services.base import now

if TYPE_CHECKING:
    from strongroom.infrastructure.store import StrongroomApplication

_PREFIX = "srt_"
_VERIFIED_KEPT = 4096
"""Verified tokens kept per process (each re-checked against the log on use)."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token's public facts (never the token)."""

    id: UUID
    name: str | None
    scopes: tuple[str, ...]
    namespace: str | None
    expires_at: datetime | None
    app: str | None
    env: str | None
    created_at: datetime
    created_by: str | None
    revoked: bool
    access_key_id: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: ``token`` is shown once and never stored. An AWS access key
    (``aws=True``) also has its id and secret: the secret is shown once too."""

    token: str = field(repr=False)
    info: TokenInfo
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)


@translate_store_errors
class TokenAPI:
    """Creates, verifies, lists and revokes API tokens."""

    def __init__(self, app: StrongroomApplication, *, actor: str | None = None) -> None:
        # Tokens verified lately, by id: each use checks its stream's version.
        self._verified: dict[str, ApiToken] = {}
        self._app = app
        self._recorder: KeyStoreRecorder = app.recorder  # type: ignore[assignment]
        self._actor = actor

    def __repr__(self) -> str:
        return "TokenAPI()"

    def create(
        self,
        *,
        scopes: Iterable[str],
        namespace: str | None = None,
        expires_at: datetime | None = None,
        name: str | None = None,
        app: str | None = None,
        env: str | None = None,
        aws: bool = False,
    ) -> IssuedToken:
        """Issue a token with ``scopes``, optionally bound to a namespace, app, env.

        A bound token acts only there: other namespaces answer 403, and it reveals
        as its app and env, whatever a request claims. With ``aws`` it is also an
        AWS access key for the Secrets Manager protocol (Signature Version 4).
        """
        if isinstance(scopes, str):
            msg = "invalid scopes: expected a list of scopes"
            raise ValidationError(msg)
        wanted = tuple(dict.fromkeys(scopes))
        unknown = [s for s in wanted if s not in SCOPES]
        if not wanted or unknown:
            msg = f"invalid scopes: expected one or more of {', '.join(SCOPES)}"
            raise ValidationError(msg)
        secret = secrets.token_urlsafe(32)
        token = ApiToken.issue(
            token_id=uuid4(),
            name=check.check_optional_label(name, "token name"),
            digest=_digest(secret),
            scopes=wanted,
            namespace=check.check_namespace(namespace),
            expires_at=check.check_moment(expires_at, "expiry"),
            at=now(),
            actor=self._actor,
            app=check.check_optional_label(app, "app"),
            env=check.check_optional_label(env, "env"),
            aws_secret=secrets.token_urlsafe(30) if aws else None,
        )
        self._app.save(token)
        return IssuedToken(
            f"{_PREFIX}{token.id.hex}_{secret}",
            _info(token),
            access_key_id=token.access_key_id,
            secret_access_key=token.aws_secret,
        )

    def access_key(self, access_key_id: str) -> ApiToken | None:
        """The live token an AWS access key id names (its ``aws_secret`` verifies
        the request's signature), or None: unknown, revoked, expired, not a key."""
        if not isinstance(access_key_id, str) or not access_key_id.startswith(
            ACCESS_KEY_PREFIX
        ):
            return None
        token_id = access_key_id[len(ACCESS_KEY_PREFIX) :].lower()
        found = self._current(token_id, None)
        if found is None or found.aws_secret is None:
            return None
        if found.revoked or (
            found.expires_at is not None and found.expires_at <= now()
        ):
            return None
        return found

    def verify(self, token: str) -> ApiToken | None:
        """The live token ``token`` names, or None (unknown, wrong, revoked, expired)."""
        if not isinstance(token, str) or not token.startswith(_PREFIX):
            return None
        token_id, sep, secret = token[len(_PREFIX) :].partition("_")
        found = self._current(token_id, _digest(secret)) if sep else None
        if found is None:
            # Hash anyway: an unknown id takes as long as a wrong secret.
            hmac.compare_digest(_digest(secret), "0" * 64)
            return None
        if not hmac.compare_digest(_digest(secret), found.digest):
            return None
        if found.revoked or (
            found.expires_at is not None and found.expires_at <= now()
        ):
            return None
        return found

    def list(self) -> list[TokenInfo]:
        """Every token ever issued, oldest first (revoked ones too)."""
        recorder = self._app.recorder
        found: list[TokenInfo] = []
        start: int | None = None
        while batch := recorder.select_notifications(
            start=start,
            limit=500,
            topics=[ApiToken.Created.TOPIC],
            inclusive_of_start=False,
        ):
            for item in batch:
                token: ApiToken = self._app.repository.get(
                    cast("UUID", item.originator_id)
                )
                found.append(_info(token))
            start = batch[-1].id
        return found

    def revoke(self, token_id: UUID | str) -> bool:
        """Revoke a token by id: True once, then False (unknown ids: False)."""
        token = self._load(token_id)
        if token is None or not token.revoke(at=now(), actor=self._actor):
            return False
        self._app.save(token)
        return True

    def _current(self, token_id: str, digest: str | None) -> ApiToken | None:
        """The token as it is now: from this process's copy when its stream has not
        moved since (one small query: a revocation anywhere shows at once), else
        replayed from the log."""
        known = self._verified.get(token_id)
        if (
            known is not None
            and (digest is None or hmac.compare_digest(digest, known.digest))
            and self._recorder.select_stream_version(known.id) == known.version
        ):
            return known
        found = self._load(token_id)
        if found is not None:
            if len(self._verified) >= _VERIFIED_KEPT:
                self._verified.clear()
            self._verified[token_id] = found
        return found

    def _load(self, token_id: UUID | str) -> ApiToken | None:
        """The token with that id; None for anything else, never loading it.

        An id may name a secret or a key reservation: only a stream that starts
        with a token's first event is read, so nothing else is ever decrypted.
        """
        try:
            key = token_id if isinstance(token_id, UUID) else UUID(str(token_id))
        except ValueError:
            return None
        first = self._app.recorder.select_events(key, limit=1)
        if not first or first[0].topic != ApiToken.Created.TOPIC:
            return None
        try:
            found: object = self._app.repository.get(key)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, ApiToken) else None


def _info(token: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=token.id,
        name=token.name,
        scopes=tuple(token.scopes),
        namespace=token.namespace,
        expires_at=token.expires_at,
        app=token.app,
        env=token.env,
        created_at=token.created_on,
        created_by=token.created_by,
        revoked=token.revoked,
        access_key_id=token.access_key_id,
    )
