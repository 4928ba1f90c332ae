"""The strongroom error tree: every error a caller can see derives from StrongroomError.

Messages name the secret (or key id), never a value or key material.
"""

from __future__ import annotations


class StrongroomError(Exception):
    """Base class of every error raised by strongroom."""


class ValidationError(StrongroomError, ValueError):
    """Bad input: nothing was written."""


class SecretNotFoundError(StrongroomError, LookupError):
    """No live secret at that address (or id)."""


class VersionNotFoundError(StrongroomError):
    """The secret has no such value version."""


class ConflictError(StrongroomError):
    """A write lost against the current state of the store."""


class SecretExistsError(ConflictError):
    """A live secret already has that name."""


class NameReservedError(ConflictError):
    """The name belonged to a deleted secret and stays reserved forever."""


class VersionConflictError(ConflictError):
    """The secret changed since the version the caller expected."""


class KeyReusedError(ConflictError):
    """An aggregate key id was used before (ids are never reused, even after delete)."""


class SecretDeletedError(StrongroomError):
    """The secret was deleted: its values are crypto-shredded."""


class SecretPendingDeletionError(SecretDeletedError):
    """The secret is scheduled for deletion: nothing is revealed or written until
    it is restored (``restore``) or purged."""


class RotationFailedError(StrongroomError):
    """A rotation step failed: the current version is untouched; rotate again to
    resume from the step that failed."""


class KeyDeletedError(SecretDeletedError):
    """The aggregate key id was deleted: its key is shredded and never re-issued."""


class AggregateShreddedError(SecretDeletedError):
    """A host aggregate was forgotten: its events are crypto-shredded placeholders."""


class SecretRevokedError(StrongroomError):
    """The secret is revoked: its value cannot be revealed until reinstated."""


class SecretExpiredError(StrongroomError):
    """The secret's expiry time has passed."""


class AccessDeniedError(StrongroomError):
    """The app or env asking is not allowed to reveal the secret."""


class MasterKeyError(StrongroomError):
    """The master key is missing, malformed, or not the one this store was made with."""


class DecryptionError(StrongroomError):
    """Stored data failed authentication (tampered, moved or corrupted)."""


class StoreUnavailableError(StrongroomError):
    """The database could not be reached, or dropped the connection: nothing changed."""


class StoreBusyError(StoreUnavailableError):
    """A lock or a connection was not granted within its timeout: nothing changed.

    The database is up but busy (another writer holds a lock, or every connection
    is in use); retrying later is safe.
    """


class CommitUnknownError(StoreUnavailableError):
    """The connection was lost while a write was committing: it may or may not have.

    Retry with the same ``request_id`` to find out without writing twice.
    """


def describe(name: str, namespace: str | None) -> str:
    """Human-readable address of a secret, for error messages."""
    return repr(name) if namespace is None else f"{name!r} in namespace {namespace!r}"
