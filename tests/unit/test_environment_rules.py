"""The rules of secrets as environment variables: default names, specs, collisions
and values (no database)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom import ValidationError
from strongroom.domain.environment import (
    Wanted,
    as_text,
    assign,
    check_variable,
    parse_spec,
    variable_for,
)
from strongroom.domain.validation import NAME_PATTERN


@pytest.mark.parametrize(
    ("name", "prefixes", "variable"),
    [
        ("db/password", [], "DB_PASSWORD"),
        ("db/password", ["db/"], "PASSWORD"),
        ("db/password", ["db"], "_PASSWORD"),
        ("api.key-v2", [], "API_KEY_V2"),
        ("a//b..c", [], "A_B_C"),
        ("db/x", ["d", "db/"], "X"),  # the longest matching prefix
        ("db/", ["db/"], "DB_"),  # nothing would be left: the prefix stays
    ],
)
def test_variable_for_upper_cases_and_joins_runs_when_no_name_is_given(
    name: str, prefixes: list[str], variable: str
) -> None:
    assert variable_for(name, prefixes) == variable


@given(st.from_regex(NAME_PATTERN, fullmatch=True))
def test_variable_for_gives_only_capitals_digits_and_underscores_when_any_name(
    name: str,
) -> None:
    assert re.fullmatch(r"[A-Z0-9_]+", variable_for(name))


@pytest.mark.parametrize(
    ("spec", "wanted"),
    [
        ("db/password", Wanted("db/password")),
        ("db/password=PG_PASS", Wanted("db/password", None, "PG_PASS")),
        ("cfg#host", Wanted("cfg", "host")),
        ("cfg#host=DB_HOST", Wanted("cfg", "host", "DB_HOST")),
    ],
)
def test_parse_spec_reads_name_field_and_variable_when_given(
    spec: str, wanted: Wanted
) -> None:
    assert parse_spec(spec) == wanted


@pytest.mark.parametrize(
    "spec", ["", "=X", "a=1X", "a=X-Y", "a#=X", "../a", "a\x00", "a=X\x00", "a#\x1b"]
)
def test_parse_spec_refuses_when_a_part_is_invalid(spec: str) -> None:
    with pytest.raises(ValidationError):
        parse_spec(spec)


def test_assign_refuses_naming_both_secrets_when_two_map_to_one_variable() -> None:
    with pytest.raises(
        ValidationError, match=r"'db-password'.*'db/password'.*DB_PASSWORD"
    ):
        assign([Wanted("db-password"), Wanted("db/password")])


def test_assign_refuses_when_a_default_variable_is_not_an_identifier() -> None:
    with pytest.raises(ValidationError, match="'1password'"):
        assign([Wanted("1password")])


def test_assign_keeps_explicit_variables_when_they_differ() -> None:
    got = assign([Wanted("a", None, "X"), Wanted("b", None, "Y")], namespace="ns")

    assert sorted(got) == ["X", "Y"]


@given(st.text())
def test_check_variable_accepts_exactly_shell_identifiers_when_given_any_text(
    text: str,
) -> None:
    valid = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) is not None
    try:
        check_variable(text)
    except ValidationError:
        assert not valid
    else:
        assert valid


def test_as_text_takes_a_field_or_compact_json_when_the_value_is_an_object() -> None:
    value = {"host": "db", "port": 5432, "tls": {"on": True}}

    assert (
        as_text(value, None, "'cfg'") == '{"host":"db","port":5432,"tls":{"on":true}}'
    )
    assert as_text(value, "host", "'cfg'") == "db"
    assert as_text(value, "port", "'cfg'") == "5432"
    with pytest.raises(ValidationError, match="no field 'user'"):
        as_text(value, "user", "'cfg'")
    with pytest.raises(ValidationError, match="no field"):
        as_text("plain", "host", "'cfg'")


def test_as_text_refuses_when_the_value_holds_nul() -> None:
    with pytest.raises(ValidationError, match="NUL") as caught:
        as_text("pass\x00word", None, "'x'")

    assert "pass" not in str(caught.value).replace("'x'", "")
