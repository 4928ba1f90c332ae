"""Bad input, generated: every call succeeds or raises ValidationError, writes nothing
when it fails, and leaves the store usable."""

from __future__ import annotations

import itertools
import math
import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongroom import SecretsManager, StrongroomError, ValidationError

from .raw import query

EXAMPLES = int(os.environ.get("STRONGROOM_TEST_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _nest(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    top = node
    for _ in range(depth):
        node["n"] = {}
        node = node["n"]
    return top


text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40
)
valid_names = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True)
hostile_text = st.one_of(
    text,
    st.sampled_from(
        ["", " ", "\x00", "a\x00b", "../etc", "a//b", "/a", "a/", "\n", "é" * 300]
    ),
    st.text(min_size=250, max_size=300),
)
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text
)
json_like = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)
    ),
    max_leaves=20,
)
non_json = st.one_of(
    st.just(float("nan")),
    st.just(math.inf),
    st.binary(max_size=8),
    st.sets(st.integers(), max_size=3),
    st.builds(object),
    st.just(datetime(2020, 1, 1, tzinfo=UTC)),
)
values = st.one_of(
    text,
    hostile_text,
    st.dictionaries(text, json_like, max_size=5),
    st.dictionaries(text, non_json, min_size=1, max_size=2),
    st.dictionaries(st.integers(), text, min_size=1, max_size=2),
    json_like,
    non_json,
    st.just("x" * (70 * 1024)),
    st.builds(_nest, st.integers(28, 40)),
)
moments = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(),  # naive
    st.datetimes(timezones=st.just(timezone(timedelta(hours=5)))),
    text,
    st.integers(),
)
labels = st.one_of(
    st.lists(hostile_text, max_size=4), hostile_text, st.integers(), st.none()
)
tags = st.one_of(
    st.none(),
    st.dictionaries(hostile_text, hostile_text, max_size=4),
    st.dictionaries(text, st.integers(), min_size=1, max_size=2),
    st.lists(text, max_size=2),
    st.dictionaries(text, text, min_size=51, max_size=52),
)
versions = st.one_of(
    st.integers(min_value=-5, max_value=5), st.booleans(), st.floats(), text, st.none()
)


def _events(url: str) -> int:
    return int(query(url, "SELECT count(*) FROM strongroom_events")[0][0])


def _only_validation_errors(call: Any, url: str) -> bool:
    """Run ``call``; True if it succeeded. A ValidationError must have written nothing."""
    before = _events(url)
    try:
        call()
    except ValidationError as exc:
        message = str(exc)
    else:
        return True
    assert message
    assert _events(url) == before
    return False


def _still_usable(sm: SecretsManager) -> None:
    name = f"usable/{os.urandom(4).hex()}"
    sm.create(name, "fine")
    assert sm.reveal(name) == "fine"
    assert sm.stats().total == len(list(_all_names(sm)))


def _all_names(sm: SecretsManager) -> list[str]:
    names, cursor = [], None
    while True:
        page = sm.list(limit=100, cursor=cursor)
        names += [s.name for s in page.items]
        if (cursor := page.next_cursor) is None:
            return names


@pytest.mark.slow
def test_creates_succeed_or_raise_validation_errors_when_given_anything(
    sm: SecretsManager, store_url: str
) -> None:
    counter = itertools.count()

    @FUZZ
    @given(
        kwargs=st.fixed_dictionaries(
            {
                "name": st.one_of(valid_names, valid_names, hostile_text),
                "value": st.one_of(text.filter(bool), values),
            },
            optional={
                "namespace": st.one_of(st.none(), valid_names, hostile_text),
                "description": st.one_of(st.none(), hostile_text, st.integers()),
                "allowed_apps": labels,
                "expires_at": moments,
                "tags": tags,
            },
        )
    )
    def create(kwargs: dict[str, Any]) -> None:
        kwargs["name"] = f"{kwargs['name']}{next(counter)}" if kwargs["name"] else ""
        if _only_validation_errors(lambda: sm.create(**kwargs), store_url):
            seen["created"] += 1
            assert sm.exists(kwargs["name"], namespace=kwargs.get("namespace"))
        else:
            seen["refused"] += 1

    seen = {"created": 0, "refused": 0}
    create()
    assert seen["created"], seen
    assert seen["refused"], seen
    with pytest.raises(ValidationError):
        sm.create("deep", _nest(40))
    _still_usable(sm)


@pytest.mark.slow
def test_reads_and_updates_succeed_or_raise_validation_errors_when_given_anything(
    sm: SecretsManager, store_url: str
) -> None:
    sm.create("target", {"a": 1})

    @FUZZ
    @given(
        value=values,
        version=versions,
        cursor=st.one_of(st.none(), hostile_text, st.binary().map(lambda b: b.hex())),
        limit=st.one_of(st.integers(-2, 2000), st.booleans(), text),
        key_id=st.one_of(hostile_text, st.integers(), st.none()),
        expected=versions,
    )
    def exercise(
        value: Any, version: Any, cursor: Any, limit: Any, key_id: Any, expected: Any
    ) -> None:
        calls = [
            lambda: sm.update("target", value=value),
            lambda: sm.update("target", description="d", expected_version=expected),
            lambda: sm.patch(
                "target", value if isinstance(value, dict) else {"v": value}
            ),
            lambda: sm.list(cursor=cursor, limit=limit),
            lambda: sm.keys.set_secret(key_id, value),
            lambda: sm.keys.get_secret(key_id),
        ]
        for call in calls:
            try:
                _only_validation_errors(call, store_url)
            except StrongroomError as exc:
                refused = type(exc).__name__
            else:
                continue
            # Valid input about a state: a stale expected version, a reused key id.
            assert refused in {"VersionConflictError", "KeyReusedError"}
        try:
            sm.reveal("target", version=version)
        except ValidationError:
            pass
        except StrongroomError as exc:
            refused = type(exc).__name__
            assert refused == "VersionNotFoundError"

    exercise()
    _still_usable(sm)
