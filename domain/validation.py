"""Every input rule of strongroom, in one place.

The library, the CLI, the HTTP schemas and the importers all call these checks, so
a rule is written once. The invariant they keep: whatever a write accepts can be
stored as text by every backend and read back by every read (no NUL, no lone
surrogate, no moment that overflows in some time zone, no integer a reader cannot
convert). Bad input raises ValidationError, whose message names the field and the
rule, never the input: it may be a secret value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from strongroom.domain.errors import ValidationError

MAX_NAME = 255
MAX_VALUE_BYTES = 64 * 1024
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_KEY_ID = 255
MAX_LABEL = 255  # token type, app and env names, actors, token names, filters
MAX_TEXT = 4096  # descriptions
MAX_JSON_DEPTH = 32
MAX_JSON_INT = 2**63  # |n| below this: every JSON reader holds it as a 64-bit int
MAX_COUNT = 2**63 - 1  # versions, skips, limits: a PostgreSQL bigint
MAX_DURATION = timedelta(days=100 * 366)  # lifetimes and look-ahead windows
# Moments one day inside datetime's range: every time zone can show them, so no
# reader (Python, psycopg in any session time zone, SQLite) overflows on them.
MIN_MOMENT = datetime(1, 1, 2, tzinfo=UTC)
MAX_MOMENT = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)

# A later segment is any run of the name characters but "." and "..", which
# clients and proxies would resolve away (so "tmp/../prod" would name "prod").
_SEGMENT = r"([A-Za-z0-9_\-][A-Za-z0-9_.\-]?|\.[A-Za-z0-9_\-]|[A-Za-z0-9_.\-]{3,})"
NAME_PATTERN = rf"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/{_SEGMENT})*$"
NAMESPACE_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,62}$"
_NAME = re.compile(NAME_PATTERN)
_NAMESPACE = re.compile(NAMESPACE_PATTERN)
_DIGITS = re.compile(r"[0-9]{1,18}")
# Unencodable code points: lone surrogates cannot be written as UTF-8.
_UNENCODABLE = re.compile("[\ud800-\udfff]")
# Free text (descriptions) may hold tabs and line breaks, nothing else below 0x20.
_TEXT_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_BAD_IN_TEXT = re.compile(f"[{_TEXT_CONTROLS}\ud800-\udfff]")
TEXT_PATTERN = f"^[^{_TEXT_CONTROLS}]*$"
"""What free text may hold, for schemas."""
# Labels are one line and show what they are: no control characters, no
# bidirectional overrides or isolates (text that displays as another label),
# no byte-order mark.
_LABEL_CONTROLS = r"\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff"
_BAD_IN_LABEL = re.compile(f"[{_LABEL_CONTROLS}\ud800-\udfff]")
LABEL_PATTERN = f"^[^{_LABEL_CONTROLS}]+$"
"""What a label may hold, for schemas (lone surrogates cannot be sent as UTF-8)."""

Value = str | dict[str, Any]


def _fail(what: str, rule: str) -> ValidationError:
    return ValidationError(f"invalid {what}: {rule}")


# ------------------------------------------------------------------ addresses


def check_name(name: object) -> str:
    """Return ``name`` if it is a valid secret name, else raise ValidationError."""
    if not isinstance(name, str) or len(name) > MAX_NAME or not _NAME.fullmatch(name):
        rule = (
            f"1-{MAX_NAME} characters of A-Z a-z 0-9 _ . - /, starting with a letter, "
            "digit or underscore, no empty, '.' or '..' segment and no trailing '/'"
        )
        raise _fail("secret name", rule)
    return name


def check_namespace(namespace: object) -> str | None:
    """Return ``namespace`` (None = global) if valid, else raise ValidationError."""
    if namespace is None:
        return None
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        rule = "1-63 characters of a-z 0-9 _ -, starting with a letter or digit"
        raise _fail("namespace", rule)
    return namespace


def check_names(names: object, what: str = "names") -> list[str]:
    """A list of str, never one str read letter by letter.

    Each name is checked when it is used, so in a batch a bad name fails alone.
    """
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise _fail(what, "expected a list of secret names")
    found = list(names)
    if not all(isinstance(name, str) for name in found):
        raise _fail(what, "expected a list of secret names")
    return found


# ---------------------------------------------------------------------- text


def check_label(label: object, what: str, limit: int = MAX_LABEL) -> str:
    """A one-line label of 1-``limit`` characters without control characters."""
    if (
        not isinstance(label, str)
        or not 0 < len(label) <= limit
        or _BAD_IN_LABEL.search(label)
    ):
        raise _fail(
            what,
            f"expected 1-{limit} characters, without control characters, "
            "bidirectional controls or lone surrogates",
        )
    return label


def check_optional_label(
    label: object, what: str, limit: int = MAX_LABEL
) -> str | None:
    """Like ``check_label``; None stays None."""
    return None if label is None else check_label(label, what, limit)


def check_text(text: object, what: str, limit: int = MAX_TEXT) -> str | None:
    """An optional free-text field (a description): tabs and line breaks allowed."""
    if text is None:
        return None
    if not isinstance(text, str) or len(text) > limit or _BAD_IN_TEXT.search(text):
        raise _fail(
            what,
            f"expected at most {limit} characters, without NUL, control "
            "characters other than tab and line breaks, or lone surrogates",
        )
    return text


def check_labels(labels: object, what: str) -> tuple[str, ...]:
    """Apps or envs as a sorted, de-duplicated tuple of labels."""
    if labels is None:
        return ()
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
        raise _fail(what, "expected a list of names")
    return tuple(sorted({check_label(item, what) for item in labels}))


def check_tags(tags: object) -> dict[str, str]:
    """A copy of ``tags`` (None = none): at most 50 label keys and values."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise _fail("tags", "expected a mapping of str to str")
    if len(tags) > MAX_TAGS:
        raise _fail("tags", f"at most {MAX_TAGS} allowed")
    checked: dict[str, str] = {}
    for key, val in tags.items():
        check_label(key, "tag key", MAX_TAG_KEY)
        if not isinstance(val, str):
            raise _fail("tag value", "expected a str")
        if val:
            check_label(val, "tag value", MAX_TAG_VALUE)
        checked[key] = val
    return checked


def check_tag_filter(tag: object) -> tuple[str, str] | None:
    """A listing's ``key=value`` tag filter, split."""
    if tag is None:
        return None
    if not isinstance(tag, str) or "=" not in tag:
        raise _fail("tag filter", "expected 'key=value'")
    key, _, val = tag.partition("=")
    check_label(key, "tag key", MAX_TAG_KEY)
    if val:
        check_label(val, "tag value", MAX_TAG_VALUE)
    return key, val


def check_one_of(value: object, allowed: Iterable[str], what: str) -> str | None:
    """``value`` if it is one of ``allowed`` (None stays None)."""
    if value is None:
        return None
    choices = set(allowed)
    if not isinstance(value, str) or value not in choices:
        raise _fail(what, f"expected one of {', '.join(sorted(choices))}")
    return str(value)


# --------------------------------------------------------------------- values


def _check_scalar(value: Any) -> None:
    if isinstance(value, str):
        if _UNENCODABLE.search(value):
            raise _fail("value", "a string holds a lone surrogate")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -MAX_JSON_INT < value < MAX_JSON_INT:
            raise _fail("value", "integers must lie within 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _fail("value", "numbers must be finite")
    else:
        raise _fail("value", "a JSON object may hold only JSON types")


def _check_json(value: Any, level: int) -> None:
    """Walk a JSON value once: types, depth, encodable strings, bounded numbers."""
    if isinstance(value, (dict, list)) and level > MAX_JSON_DEPTH:
        raise _fail("value", f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or _UNENCODABLE.search(key):
                raise _fail("value", "object keys must be str without lone surrogates")
            _check_json(item, level + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, level + 1)
    else:
        _check_scalar(value)


def encoded_size(value: Value) -> int:
    """Bytes the value takes: UTF-8 for a str, compact JSON for an object."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def check_value(value: object) -> Value:
    """``value`` if it is a non-empty str or a JSON object within 64 KiB."""
    if isinstance(value, str):
        if not value:
            raise _fail("value", "an empty string")
        if _UNENCODABLE.search(value):
            raise _fail("value", "holds a lone surrogate, which UTF-8 cannot encode")
    elif isinstance(value, dict):
        _check_json(value, 1)
    else:
        kind = type(value).__name__
        raise _fail("value", f"expected a str or a JSON object, got {kind}")
    if encoded_size(value) > MAX_VALUE_BYTES:
        raise _fail("value", f"larger than {MAX_VALUE_BYTES} bytes")
    return value


def check_pairs(items: object) -> Iterable[tuple[str, Value]]:
    """``(name, value)`` pairs, each checked as it is read."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise _fail("items", "expected (name, value) pairs")
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise _fail("items", "each item must be a (name, value) pair")
        yield check_name(item[0]), check_value(item[1])


def check_key_id(key_id: object) -> str:
    """An aggregate key id: 1-255 characters, any but control characters."""
    return check_label(key_id, "key id", MAX_KEY_ID)


def check_key_secret(secret: object) -> str:
    """An aggregate key's secret: a non-empty str that UTF-8 can encode."""
    if not isinstance(secret, str) or not secret or _UNENCODABLE.search(secret):
        raise _fail("key secret", "expected a non-empty str without lone surrogates")
    return secret


def check_request_id(request_id: object) -> str:
    """A client's idempotency key: 1-255 characters without control characters."""
    return check_label(request_id, "request id", MAX_KEY_ID)


def check_actor(actor: object) -> str | None:
    """An optional actor name (it outlives shredding in the log: keep it clean)."""
    return check_optional_label(actor, "actor")


# ------------------------------------------------------------ moments, numbers


def check_moment(moment: object, what: str) -> datetime | None:
    """An optional aware datetime that every time zone can represent."""
    if moment is None:
        return None
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise _fail(what, "expected a timezone-aware datetime")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not MIN_MOMENT <= utc <= MAX_MOMENT:
        raise _fail(what, "the moment must fall between 0001-01-02 and 9999-12-30 UTC")
    return moment


def parse_moment(text: object, what: str) -> datetime:
    """An ISO 8601 date-time with an offset (or a Unix timestamp in seconds)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if not math.isfinite(text) or abs(text) > MAX_MOMENT.timestamp():
            raise _fail(what, "a Unix timestamp out of range")
        moment = datetime.fromtimestamp(text, UTC)
    elif isinstance(text, str):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or moment.utcoffset() is None:
            raise _fail(what, "expected an ISO 8601 date-time with offset")
    else:
        raise _fail(what, "expected an ISO 8601 date-time with offset")
    checked = check_moment(moment, what)
    assert checked is not None
    return checked


def check_duration(
    value: object,
    what: str,
    *,
    minimum: timedelta = timedelta(0),
    maximum: timedelta = MAX_DURATION,
    rule: str = "expected a non-negative timedelta of at most 100 years",
) -> timedelta:
    """A timedelta from ``minimum`` to ``maximum`` (default: up to 100 years)."""
    if not isinstance(value, timedelta) or not minimum <= value <= maximum:
        raise _fail(what, rule)
    return value


_DURATION = re.compile(r"([0-9]{1,12})([smhdwy])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def parse_duration(text: object, what: str) -> timedelta:
    """A lifetime written like ``30d``: a positive whole number of s, m, h, d, w or y."""
    found = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if found is None or int(found[1]) == 0:
        raise _fail(what, "expected a duration like 30d, 12h or 15m (s, m, h, d, w, y)")
    seconds = int(found[1]) * _UNIT_SECONDS[found[2]]
    if seconds > MAX_DURATION.total_seconds():
        raise _fail(what, "at most 100 years")
    return timedelta(seconds=seconds)


def expiry_after(now: datetime, lifetime: timedelta) -> datetime:
    """The moment a lifetime that starts at ``now`` ends (checked)."""
    end = now + check_duration(lifetime, "lifetime")
    checked = check_moment(end, "expiry")
    assert checked is not None
    return checked


def check_count(
    value: object, what: str, *, minimum: int = 0, maximum: int = MAX_COUNT
) -> int:
    """An int (not a bool) from ``minimum`` to ``maximum``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not minimum <= value <= maximum
    ):
        raise _fail(what, f"expected an integer from {minimum} to {maximum}")
    return value


def check_version(version: object) -> int:
    """A value version number (a positive int)."""
    return check_count(version, "version", minimum=1)


def parse_version(text: object) -> int:
    """A version number written in ASCII digits (an ``If-Match`` header's)."""
    if not isinstance(text, str) or not _DIGITS.fullmatch(text.strip().strip('"')):
        raise _fail("version", "expected a version number in ASCII digits")
    return check_version(int(text.strip().strip('"')))
