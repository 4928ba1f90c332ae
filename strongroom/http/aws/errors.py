"""AWS Secrets Manager's errors: a JSON body ``{"__type": code, "message": …}``
and one table from strongroom's errors to AWS's codes."""

from __future__ import annotations

from dataclasses import dataclass

from strongroom.domain.errors import (
    AccessDeniedError,
    ConflictError,
    DecryptionError,
    NameReservedError,
    RotationFailedError,
    SecretDeletedError,
    SecretExistsError,
    SecretExpiredError,
    SecretNotFoundError,
    SecretPendingDeletionError,
    SecretRevokedError,
    StoreUnavailableError,
    StrongroomError,
    ValidationError,
    VersionConflictError,
    VersionNotFoundError,
)


@dataclass
class AwsError(Exception):
    """An error answered in AWS's form."""

    code: str
    message: str
    status: int = 400


# Most specific first: the first class an error is an instance of answers it.
_CODES: tuple[tuple[type[StrongroomError], str, int], ...] = (
    (ValidationError, "InvalidParameterException", 400),
    (SecretNotFoundError, "ResourceNotFoundException", 400),
    (VersionNotFoundError, "ResourceNotFoundException", 400),
    (SecretPendingDeletionError, "InvalidRequestException", 400),
    (SecretDeletedError, "ResourceNotFoundException", 400),
    (SecretExistsError, "ResourceExistsException", 400),
    (NameReservedError, "ResourceExistsException", 400),
    (VersionConflictError, "InvalidRequestException", 400),
    (ConflictError, "ResourceExistsException", 400),
    (SecretRevokedError, "InvalidRequestException", 400),
    (SecretExpiredError, "InvalidRequestException", 400),
    (AccessDeniedError, "AccessDeniedException", 400),
    (RotationFailedError, "InvalidRequestException", 400),
    (DecryptionError, "DecryptionFailure", 400),
    (StoreUnavailableError, "InternalServiceError", 500),
)


def aws_error(exc: StrongroomError) -> AwsError:
    """The AWS error that answers a library error (its message kept: it names
    the secret, never a value)."""
    for kind, code, status in _CODES:
        if isinstance(exc, kind):
            message = str(exc)
            if isinstance(exc, NameReservedError):
                message += (
                    " (strongroom reserves a deleted secret's name for ever;"
                    " AWS frees it after a forced deletion)"
                )
            return AwsError(code, message, status)
    return AwsError("InternalServiceError", "internal error", 500)


def not_supported(what: str) -> AwsError:
    """A part of AWS's API strongroom does not have: said, never a 500."""
    return AwsError("InvalidRequestException", f"strongroom does not support {what}")
