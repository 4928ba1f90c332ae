"""Who may reveal what, and what a bound token may touch: policies, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from strongroom.domain.access import Caller, check_reveal
from strongroom.domain.errors import (
    AccessDeniedError,
    SecretExpiredError,
    SecretRevokedError,
    ValidationError,
)
from strongroom.domain.results import Status
from strongroom.domain.tokens import ApiToken

RESTRICTED: dict[str, Any] = {
    "name": "svc",
    "namespace": None,
    "status": Status.ACTIVE,
    "expired": False,
    "allowed_apps": ("billing",),
    "envs": ("prod",),
}


def _token(**binding: str | None) -> ApiToken:
    return ApiToken.issue(
        token_id=uuid4(),
        name="t",
        digest="0" * 64,
        scopes=("secrets:reveal",),
        namespace=binding.get("namespace"),
        expires_at=None,
        at=datetime.now(UTC),
        actor=None,
        app=binding.get("app"),
        env=binding.get("env"),
    )


@pytest.mark.parametrize(
    ("app", "env"), [(None, None), ("billing", None), (None, "prod"), ("web", "prod")]
)
def test_restricted_secrets_are_refused_when_a_strict_caller_omits_or_misnames(
    app: str | None, env: str | None
) -> None:
    with pytest.raises(AccessDeniedError, match="svc"):
        check_reveal(**RESTRICTED, caller=Caller(app=app, env=env, strict=True))


def test_restricted_secrets_are_revealed_when_the_caller_names_allowed_ones() -> None:
    check_reveal(**RESTRICTED, caller=Caller(app="billing", env="prod", strict=True))


def test_unrestricted_secrets_are_revealed_when_a_strict_caller_names_nothing() -> None:
    open_secret = {**RESTRICTED, "allowed_apps": (), "envs": ()}
    check_reveal(**open_secret, caller=Caller(strict=True))


def test_library_callers_may_leave_app_and_env_unnamed_when_not_strict() -> None:
    check_reveal(**RESTRICTED, caller=Caller())
    with pytest.raises(AccessDeniedError):
        check_reveal(**RESTRICTED, caller=Caller(app="web"))


def test_revoked_and_expired_come_before_access_when_checked() -> None:
    with pytest.raises(SecretRevokedError):
        check_reveal(**{**RESTRICTED, "status": Status.REVOKED}, caller=Caller())
    with pytest.raises(SecretExpiredError):
        check_reveal(**{**RESTRICTED, "expired": True}, caller=Caller())


def test_callers_are_checked_when_made() -> None:
    with pytest.raises(ValidationError):
        Caller(app="a\x00b")


def test_bound_tokens_reveal_as_their_app_and_env_when_the_request_names_none() -> None:
    caller = _token(app="billing", env="prod").caller(None, None)
    assert (caller.app, caller.env, caller.strict) == ("billing", "prod", True)
    check_reveal(**RESTRICTED, caller=caller)


def test_bound_tokens_cannot_claim_another_identity_when_asking() -> None:
    token = _token(app="billing", env="prod")
    with pytest.raises(AccessDeniedError, match="app"):
        token.caller("web", None)
    with pytest.raises(AccessDeniedError, match="env"):
        token.caller(None, "dev")


def test_unbound_tokens_are_strict_callers_when_revealing() -> None:
    caller = _token().caller(None, None)
    with pytest.raises(AccessDeniedError):
        check_reveal(**RESTRICTED, caller=caller)


@pytest.mark.parametrize(
    "binding", [{"namespace": "team-a"}, {"app": "billing"}, {"env": "prod"}]
)
def test_bound_tokens_cannot_use_store_wide_keys_when_bound(
    binding: dict[str, str],
) -> None:
    with pytest.raises(AccessDeniedError):
        _token(**binding).check_store_wide()
    _token().check_store_wide()


def test_namespace_bound_tokens_act_only_in_their_namespace_when_asked() -> None:
    token = _token(namespace="team-a")
    assert token.namespace_for("team-a") == "team-a"
    for other in (None, "team-b"):
        with pytest.raises(AccessDeniedError):
            token.namespace_for(other)


def test_tokens_are_recorded_by_id_when_they_act() -> None:
    one, two = _token(), _token()
    assert one.name == two.name
    assert one.actor != two.actor
    assert one.actor == f"token:{one.id}"
