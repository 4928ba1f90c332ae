"""Validation rules for names, namespaces, values, tags and access lists (DESIGN.md §6)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from strongroom.domain.errors import ValidationError

MAX_VALUE_BYTES = 64 * 1024
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_KEY_ID = 255
MAX_LABEL = 255  # description, token type, app and env names
MAX_JSON_DEPTH = 32

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,254}")
_NAMESPACE = re.compile(r"[a-z0-9][a-z0-9_\-]{0,62}")

Value = str | dict[str, Any]


def check_name(name: object) -> str:
    """Return ``name`` if it is a valid secret name, else raise ValidationError."""
    if (
        not isinstance(name, str)
        or not _NAME.fullmatch(name)
        or "//" in name
        or name.endswith("/")
    ):
        msg = (
            "invalid secret name: 1-255 characters of A-Z a-z 0-9 _ . - /, starting "
            "with a letter, digit or underscore, no '//' and no trailing '/'"
        )
        raise ValidationError(msg)
    return name


def check_namespace(namespace: object) -> str | None:
    """Return ``namespace`` (None = global) if valid, else raise ValidationError."""
    if namespace is None:
        return None
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        msg = (
            "invalid namespace: 1-63 characters of a-z 0-9 _ -, "
            "starting with a letter or digit"
        )
        raise ValidationError(msg)
    return namespace


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _json_safe(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_safe(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    return False


def encoded_size(value: Value) -> int:
    """Bytes the value takes: UTF-8 for a str, compact JSON for an object."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def check_value(value: object) -> Value:
    """Return ``value`` if it is a non-empty str or a JSON object within 64 KiB."""
    if isinstance(value, str):
        if not value:
            msg = "invalid value: an empty string"
            raise ValidationError(msg)
    elif isinstance(value, dict):
        if not _json_safe(value):
            msg = "invalid value: a JSON object may hold only JSON types"
            raise ValidationError(msg)
        if _depth(value) > MAX_JSON_DEPTH:
            msg = f"invalid value: nested deeper than {MAX_JSON_DEPTH} levels"
            raise ValidationError(msg)
    else:
        msg = f"invalid value: expected a str or a JSON object, got {type(value).__name__}"
        raise ValidationError(msg)
    if encoded_size(value) > MAX_VALUE_BYTES:
        msg = f"invalid value: larger than {MAX_VALUE_BYTES} bytes"
        raise ValidationError(msg)
    return value


def check_tags(tags: object) -> dict[str, str]:
    """Return a copy of ``tags`` (None = none) if valid, else raise ValidationError."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        msg = "invalid tags: expected a mapping of str to str"
        raise ValidationError(msg)
    if len(tags) > MAX_TAGS:
        msg = f"invalid tags: at most {MAX_TAGS} allowed"
        raise ValidationError(msg)
    checked: dict[str, str] = {}
    for key, val in tags.items():
        if not isinstance(key, str) or not isinstance(val, str):
            msg = "invalid tags: keys and values must be str"
            raise ValidationError(msg)
        if not key or len(key) > MAX_TAG_KEY:
            msg = f"invalid tag key: 1-{MAX_TAG_KEY} characters"
            raise ValidationError(msg)
        if len(val) > MAX_TAG_VALUE:
            msg = f"invalid tag value for {key!r}: at most {MAX_TAG_VALUE} characters"
            raise ValidationError(msg)
        checked[key] = val
    return checked


def check_labels(labels: object, what: str) -> tuple[str, ...]:
    """Return apps or envs as a sorted, de-duplicated tuple of non-empty strings."""
    if labels is None:
        return ()
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
        msg = f"invalid {what}: expected a list of names"
        raise ValidationError(msg)
    items = list(labels)
    if not all(isinstance(i, str) and 0 < len(i) <= MAX_LABEL for i in items):
        msg = f"invalid {what}: each must be a non-empty str of at most {MAX_LABEL}"
        raise ValidationError(msg)
    return tuple(sorted(set(items)))


def check_text(text: object, what: str, limit: int = 4096) -> str | None:
    """Return an optional free-text field (description, token type) if valid."""
    if text is None:
        return None
    if not isinstance(text, str) or len(text) > limit:
        msg = f"invalid {what}: expected a str of at most {limit} characters"
        raise ValidationError(msg)
    return text


def check_moment(moment: object, what: str) -> datetime | None:
    """Return an optional timezone-aware datetime, else raise ValidationError."""
    if moment is None:
        return None
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        msg = f"invalid {what}: expected a timezone-aware datetime"
        raise ValidationError(msg)
    return moment


def check_key_id(key_id: object) -> str:
    """Return an aggregate key id: any non-empty str of at most 255 characters."""
    if not isinstance(key_id, str) or not 0 < len(key_id) <= MAX_KEY_ID:
        msg = f"invalid key id: expected a non-empty str of at most {MAX_KEY_ID}"
        raise ValidationError(msg)
    return key_id


def check_request_id(request_id: object) -> str:
    """Return a client's idempotency key: a non-empty str of at most 255 characters."""
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_KEY_ID:
        msg = f"invalid request id: expected a non-empty str of at most {MAX_KEY_ID}"
        raise ValidationError(msg)
    return request_id


def check_actor(actor: object) -> str | None:
    """Return an optional actor name."""
    return check_text(actor, "actor", MAX_LABEL)


def check_version(version: object) -> int:
    """Return a value version number (a positive int)."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        msg = "invalid version: expected a positive integer"
        raise ValidationError(msg)
    return version
