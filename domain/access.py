"""Who may reveal what: the reveal policy of a secret, in one place.

A secret restricted to apps or envs is revealed only to a caller that names an
allowed one. The HTTP API always asks callers to name themselves (fail closed);
the library and the CLI, which hold the master key and so could read anything
anyway, leave it unnamed unless they opt in (``strict_access``).
"""

from __future__ import annotations

from dataclasses import dataclass

from strongroom.domain import validation as check
from strongroom.domain.errors import (
    AccessDeniedError,
    SecretExpiredError,
    SecretPendingDeletionError,
    SecretRevokedError,
    describe,
)
from strongroom.domain.results import Status


@dataclass(frozen=True, slots=True)
class Caller:
    """The app and env a reveal is made for; ``strict``: they must be named;
    ``namespace``: the only namespace it may read (a bound token's)."""

    app: str | None = None
    env: str | None = None
    strict: bool = False
    namespace: str | None = None

    def __post_init__(self) -> None:
        check.check_optional_label(self.app, "app")
        check.check_optional_label(self.env, "env")


def check_reveal(
    *,
    name: str,
    namespace: str | None,
    status: Status,
    expired: bool,
    allowed_apps: tuple[str, ...],
    envs: tuple[str, ...],
    caller: Caller,
) -> None:
    """Raise why ``caller`` may not reveal the secret; return if it may."""
    where = describe(name, namespace)
    if caller.namespace is not None and namespace != caller.namespace:
        # Reached through a reference: a bound caller reads nothing outside.
        raise AccessDeniedError(f"this caller may not read secret {where}")
    if status is Status.PENDING_DELETION:
        msg = f"secret {where} is scheduled for deletion; restore it to reveal it"
        raise SecretPendingDeletionError(msg)
    if status is Status.REVOKED:
        raise SecretRevokedError(f"secret {where} is revoked")
    if expired:
        raise SecretExpiredError(f"secret {where} has expired")
    for what, given, allowed in (
        ("app", caller.app, allowed_apps),
        ("env", caller.env, envs),
    ):
        if not allowed or given in allowed:
            continue
        if given is None and not caller.strict:
            continue
        who = f"an unnamed {what}" if given is None else f"{what} {given!r}"
        raise AccessDeniedError(f"{who} may not reveal secret {where}")
