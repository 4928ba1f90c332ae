"""Who is asking: bearer tokens, their scopes, and the manager a route serves.

Routes take these as dependencies (``token: Read``, ``sm: Manager``); the manager
is the one ``create_app`` was given, kept in the app's state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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


def bearer(
    scope: str, *, store_wide: bool = False
) -> Callable[..., Awaitable[ApiToken]]:
    """A dependency: the live token of the request, if it carries ``scope``.

    ``store_wide``: the route reaches outside every namespace (the key API), so a
    token bound to a namespace, an app or an env is refused.
    """

    async def check_token(request: Request) -> ApiToken:
        kind, _, token = request.headers.get("authorization", "").partition(" ")
        if kind.lower() != "bearer" or not token:
            raise unauthenticated("missing bearer token")
        found = await run_in_threadpool(
            manager_of(request).tokens.verify, token.strip()
        )
        if found is None:
            raise unauthenticated("invalid, expired or revoked token")
        if not found.allows(scope, datetime.now(UTC)):
            raise ApiError(403, f"the token lacks the {scope} scope", "forbidden")
        if store_wide:
            found.check_store_wide()
        return found

    return check_token


Manager = Annotated[SecretsManager, Depends(manager_of)]
Read = Annotated[ApiToken, Depends(bearer("secrets:read"))]
Write = Annotated[ApiToken, Depends(bearer("secrets:write"))]
Reveal = Annotated[ApiToken, Depends(bearer("secrets:reveal"))]
KeysRead = Annotated[ApiToken, Depends(bearer("keys:read", store_wide=True))]
KeysWrite = Annotated[ApiToken, Depends(bearer("keys:write", store_wide=True))]
