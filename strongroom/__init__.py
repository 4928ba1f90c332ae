"""strongroom: an event-sourced secrets store with per-secret crypto-shredding."""

from strongroom.domain.errors import (
    AccessDeniedError,
    ConflictError,
    DecryptionError,
    KeyReusedError,
    MasterKeyError,
    NameReservedError,
    SecretDeletedError,
    SecretExistsError,
    SecretExpiredError,
    SecretNotFoundError,
    SecretRevokedError,
    StrongroomError,
    ValidationError,
    VersionConflictError,
    VersionNotFoundError,
)
from strongroom.domain.results import (
    Action,
    AuditEntry,
    Cause,
    Page,
    Secret,
    SecretStats,
    SecretVersion,
    Status,
)
from strongroom.manager import KeyAPI, SecretsManager
from strongroom.settings import Settings

__all__ = [
    "AccessDeniedError",
    "Action",
    "AuditEntry",
    "Cause",
    "ConflictError",
    "DecryptionError",
    "KeyAPI",
    "KeyReusedError",
    "MasterKeyError",
    "NameReservedError",
    "Page",
    "Secret",
    "SecretDeletedError",
    "SecretExistsError",
    "SecretExpiredError",
    "SecretNotFoundError",
    "SecretRevokedError",
    "SecretStats",
    "SecretVersion",
    "SecretsManager",
    "Settings",
    "Status",
    "StrongroomError",
    "ValidationError",
    "VersionConflictError",
    "VersionNotFoundError",
]

__version__ = "0.1.0"
