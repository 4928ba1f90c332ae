"""A secret's fields as writes give them: which metadata exists, its defaults, and
the validation rule each one follows (the rules themselves are in ``validation``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from strongroom.domain import validation as check
from strongroom.domain.lifecycle import check_rotation_interval
from strongroom.domain.validation import Value

_CHECKS: dict[str, Callable[[Any], Any]] = {
    "description": lambda v: check.check_text(v, "description"),
    "token_type": lambda v: check.check_optional_label(v, "token type"),
    "allowed_apps": lambda v: check.check_labels(v, "allowed apps"),
    "envs": lambda v: check.check_labels(v, "envs"),
    "expires_at": lambda v: check.check_moment(v, "expiry"),
    "tags": check.check_tags,
    "rotation_interval": check_rotation_interval,  # kept as seconds
}
_DEFAULTS: dict[str, Any] = {
    "description": None,
    "token_type": None,
    "allowed_apps": (),
    "envs": (),
    "expires_at": None,
    "tags": None,
}


def metadata_changes(given: Mapping[str, Any]) -> dict[str, Any]:
    """Validated metadata changes (only the fields given)."""
    return {key: _CHECKS[key](val) for key, val in given.items()}


def new_secret_fields(value: Value, **metadata: Any) -> dict[str, Any]:
    """A new secret's validated fields: its value, and metadata given or defaulted."""
    return {
        "value": check.check_value(value),
        **metadata_changes({**_DEFAULTS, **metadata}),
    }


def value_only(value: Value) -> dict[str, Any]:
    """A new secret's fields when only its (already checked) value is given."""
    return {"value": value, **metadata_changes(_DEFAULTS)}


def stored_form(key: str, val: Any) -> Any:
    """A metadata field as the aggregate keeps it (apps and envs as tuples)."""
    if key in {"allowed_apps", "envs"}:
        return tuple(val or ())
    if key == "tags":
        return dict(val or {})
    return val


def comparable(val: Any) -> Any:
    """A metadata value in a form that compares equal whatever its order."""
    if isinstance(val, (list, tuple)):
        return tuple(sorted(val))
    return val
