"""Generated values stored without passing through the caller: create, put and
update take a ``Generate``; a retry of the same request answers the first one."""

from __future__ import annotations

import string

import pytest

from strongroom import ConflictError, Generate, SecretsManager


def test_create_stores_a_generated_value_when_given_rules(sm: SecretsManager) -> None:
    secret = sm.create("db/password", Generate(length=40, exclude_punctuation=True))

    value = sm.reveal("db/password")
    assert isinstance(value, str)
    assert len(value) == 40
    assert set(value) <= set(string.ascii_letters + string.digits)
    assert value not in repr(secret)


def test_put_and_update_make_new_generated_versions_when_given_rules(
    sm: SecretsManager,
) -> None:
    sm.put("api-key", Generate())
    first = sm.reveal("api-key")
    sm.update("api-key", value=Generate(length=20))
    second = sm.reveal("api-key")

    assert sm.get("api-key").version == 2
    assert len(second) == 20  # type: ignore[arg-type]
    assert first != second
    assert sm.reveal("api-key", version=1) == first


def test_a_retried_request_answers_the_first_when_the_rules_are_the_same(
    sm: SecretsManager,
) -> None:
    rules = Generate(length=24)
    sm.create("k", rules, request_id="req-1")
    first = sm.reveal("k")

    again = sm.create("k", Generate(length=24), request_id="req-1")

    assert again.version == 1
    assert sm.reveal("k") == first
    with pytest.raises(ConflictError):
        sm.create("k", Generate(length=25), request_id="req-1")
