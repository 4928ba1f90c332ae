"""Who is asking: bearer tokens, their scopes, and the manager a route serves.

Routes take these as dependencies (``token: Read``, ``sm: Manager``); the manager
is the one ``create_app`` was given, kept in the app's state. Routes on hot paths
take ``ReadLater`` (and the like) instead and check the token in the thread that
does their work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from strongroom import SecretsManager
from strongroom.domain.tokens import ApiToken
from strongroom.http.errors import ApiError, unauthenticated


def manager_of(request: Request) -> SecretsManager:
    """The manager this app serves."""
    sm: SecretsManager = request.app.state.sm
    return sm


@dataclass(frozen=True)
class Credentials:
    """A request's bearer token and the scope its route needs, not checked yet.

    Routes on hot paths check it (``verify``) in the thread that does their work,
    so a request crosses to the threadpool once.
    """

    token: str = field(repr=False)
    scope: str
    store_wide: bool = False

    def verify(self, sm: SecretsManager) -> ApiToken:
        """The live token, if it carries the scope (401 or 403 otherwise).

        ``store_wide``: the route reaches outside every namespace (the key API),
        so a token bound to a namespace, an app or an env is refused.
        """
        found = sm.tokens.verify(self.token)
        if found is None:
            raise unauthenticated("invalid, expired or revoked token")
        if not found.allows(self.scope, datetime.now(UTC)):
            raise ApiError(403, f"the token lacks the {self.scope} scope", "forbidden")
        if self.store_wide:
            found.check_store_wide()
        return found


def credentials(
    scope: str, *, store_wide: bool = False
) -> Callable[..., Awaitable[Credentials]]:
    """A dependency: the request's bearer token, to check later (401 if none)."""

    async def read_header(request: Request) -> Credentials:
        kind, _, token = request.headers.get("authorization", "").partition(" ")
        if kind.lower() != "bearer" or not token:
            raise unauthenticated("missing bearer token")
        return Credentials(token.strip(), scope, store_wide)

    return read_header


def bearer(
    scope: str, *, store_wide: bool = False
) -> Callable[..., Awaitable[ApiToken]]:
    """A dependency: the live token of the request, if it carries ``scope``."""
    read_header = credentials(scope, store_wide=store_wide)

    async def check_token(request: Request) -> ApiToken:
        given = await read_header(request)
        return await run_in_threadpool(given.verify, manager_of(request))

    return check_token


async def _served(request: Request) -> SecretsManager:
    # A coroutine: FastAPI would run a plain function in its threadpool, one more
    # hop per request for a dictionary lookup.
    return manager_of(request)


Manager = Annotated[SecretsManager, Depends(_served)]
Read = Annotated[ApiToken, Depends(bearer("secrets:read"))]
Write = Annotated[ApiToken, Depends(bearer("secrets:write"))]
Reveal = Annotated[ApiToken, Depends(bearer("secrets:reveal"))]
ReadLater = Annotated[Credentials, Depends(credentials("secrets:read"))]
RevealLater = Annotated[Credentials, Depends(credentials("secrets:reveal"))]
WriteLater = Annotated[Credentials, Depends(credentials("secrets:write"))]
KeysRead = Annotated[ApiToken, Depends(bearer("keys:read", store_wide=True))]
KeysWrite = Annotated[ApiToken, Depends(bearer("keys:write", store_wide=True))]
