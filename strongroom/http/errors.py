"""HTTP errors: the one body shape, and library errors mapped through the one table."""

from __future__ import annotations

import logging

from fastapi.responses import JSONResponse

from strongroom import errors
from strongroom.domain.errors import StrongroomError

access_log = logging.getLogger("strongroom.http")


class ApiError(Exception):
    """An error response raised from a route or a dependency."""

    def __init__(
        self, status: int, error: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.code = code
        self.headers = headers


def unauthenticated(error: str) -> ApiError:
    """A 401 that tells the client how to authenticate (RFC 6750)."""
    return ApiError(401, error, "unauthenticated", {"WWW-Authenticate": "Bearer"})


def error_response(
    status: int, error: str, code: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An error body: ``{"error": ..., "code": ...}``."""
    return JSONResponse(
        status_code=status, content={"error": error, "code": code}, headers=headers
    )


def answer_for(exc: StrongroomError) -> tuple[int, str, str]:
    """A library error's HTTP status, message and code (from the one error table).

    Library messages name secrets, never values; an unmapped error says nothing.
    """
    answer = errors.answer_for(exc)
    if answer.status >= 500 and answer.code == "internal":
        access_log.error("internal error: %s", type(exc).__name__)
        return answer.status, "internal error", answer.code
    return answer.status, str(exc), answer.code


def from_strongroom(exc: StrongroomError) -> JSONResponse:
    """The response for a library error."""
    return error_response(*answer_for(exc))
