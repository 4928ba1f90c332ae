"""How each library error is answered: one table for the HTTP API and the CLI.

An adapter never decides this itself: it looks the error up here, so a 404 over
HTTP is an exit code 3 on the command line, everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from strongroom.domain.errors import (
    AccessDeniedError,
    CommitUnknownError,
    ConflictError,
    KeyReusedError,
    NameReservedError,
    RotationFailedError,
    SecretDeletedError,
    SecretExistsError,
    SecretExpiredError,
    SecretNotFoundError,
    SecretPendingDeletionError,
    SecretRevokedError,
    StoreBusyError,
    StoreUnavailableError,
    StrongroomError,
    ValidationError,
    VersionConflictError,
    VersionNotFoundError,
)

__all__ = [
    "EXIT_CONFLICT",
    "EXIT_ERROR",
    "EXIT_GONE",
    "EXIT_NOT_FOUND",
    "EXIT_USAGE",
    "Answer",
    "answer_for",
]

# The command line's exit codes (0 is success; gone: deleted, revoked or expired).
EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_GONE = 1, 2, 3, 4, 5


@dataclass(frozen=True, slots=True)
class Answer:
    """An error's HTTP status, its stable code, and the CLI's exit code."""

    status: int
    code: str
    exit_code: int


_ERROR, _USAGE, _NOT_FOUND = EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND
_CONFLICT, _GONE = EXIT_CONFLICT, EXIT_GONE
# Most specific first: the first class an error is an instance of answers it.
_TABLE: list[tuple[type[StrongroomError], Answer]] = [
    (ValidationError, Answer(400, "validation_error", _USAGE)),
    (SecretNotFoundError, Answer(404, "not_found", _NOT_FOUND)),
    (VersionNotFoundError, Answer(404, "version_not_found", _NOT_FOUND)),
    (SecretExistsError, Answer(409, "exists", _CONFLICT)),
    (NameReservedError, Answer(409, "name_reserved", _CONFLICT)),
    (KeyReusedError, Answer(409, "key_reused", _CONFLICT)),
    (VersionConflictError, Answer(409, "conflict", _CONFLICT)),
    (SecretPendingDeletionError, Answer(410, "pending_deletion", _GONE)),
    (SecretDeletedError, Answer(410, "deleted", _GONE)),
    (SecretExpiredError, Answer(410, "expired", _GONE)),
    (SecretRevokedError, Answer(409, "revoked", _GONE)),
    (AccessDeniedError, Answer(403, "access_denied", _ERROR)),
    (RotationFailedError, Answer(502, "rotation_failed", _ERROR)),
    (CommitUnknownError, Answer(503, "commit_unknown", _ERROR)),
    (StoreBusyError, Answer(503, "store_busy", _ERROR)),
    (StoreUnavailableError, Answer(503, "store_unavailable", _ERROR)),
    (ConflictError, Answer(409, "conflict", _CONFLICT)),
]
_INTERNAL = Answer(500, "internal", _ERROR)


def answer_for(exc: StrongroomError) -> Answer:
    """The answer to a library error (500 / exit 1 for one the table lacks)."""
    for kind, answer in _TABLE:
        if isinstance(exc, kind):
            return answer
    return _INTERNAL
