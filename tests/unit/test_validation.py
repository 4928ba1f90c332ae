"""Validation rules, no I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.domain import validation as check
from strongroom.domain.errors import ValidationError

NAME_CHARS = "ABCxyz019_.-/"


@given(st.text(alphabet=NAME_CHARS, min_size=1, max_size=255))
def test_names_are_accepted_exactly_when_they_follow_the_rule(name: str) -> None:
    valid = (
        (name[0].isalnum() or name[0] == "_")
        and "//" not in name
        and not name.endswith("/")
        and not {".", ".."} & set(name.split("/"))
    )
    if valid:
        assert check.check_name(name) == name
    else:
        with pytest.raises(ValidationError):
            check.check_name(name)


@pytest.mark.parametrize(
    "value", ["", None, 1, ["x"], {"k": {1, 2}}, {1: "x"}, {"f": float("nan")}]
)
def test_bad_values_are_rejected_when_not_a_str_or_json_object(value: object) -> None:
    with pytest.raises(ValidationError):
        check.check_value(value)


def test_value_size_is_counted_in_utf8_bytes_when_checked() -> None:
    assert check.check_value("é" * (32 * 1024)) == "é" * (32 * 1024)
    with pytest.raises(ValidationError):
        check.check_value("é" * (32 * 1024 + 1))


def test_deeply_nested_objects_are_rejected_when_past_the_depth_limit() -> None:
    value: dict[str, object] = {}
    for _ in range(check.MAX_JSON_DEPTH + 2):
        value = {"k": value}
    with pytest.raises(ValidationError):
        check.check_value(value)


def test_labels_are_sorted_and_deduplicated_when_checked() -> None:
    assert check.check_labels(["web", "batch", "web"], "apps") == ("batch", "web")
    with pytest.raises(ValidationError):
        check.check_labels("web", "apps")


def test_key_ids_are_any_str_up_to_255_characters_when_checked() -> None:
    assert check.check_key_id("tenant/acme order #7") == "tenant/acme order #7"
    for bad in ("", "x" * 256, 42):
        with pytest.raises(ValidationError):
            check.check_key_id(bad)


def test_error_messages_never_echo_the_value_when_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        check.check_value("s3cret" * 20000)
    assert "s3cret" not in str(caught.value)
