"""The input rules' boundaries (domain/validation), generated: no I/O.

Every rule either returns what it was given or raises ValidationError, never another
exception, and what it returns can be stored as text (UTF-8 without NUL).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.domain import validation as check
from strongroom.domain.errors import ValidationError
from tests.odd_input import odd_moments, odd_text


def _storable(text: str) -> bool:
    return "\x00" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _outcome(rule: Any, *args: Any) -> Any:
    """What the rule returns, or the ValidationError it raises (anything else fails)."""
    try:
        return rule(*args)
    except ValidationError as exc:
        return exc


# Values and key secrets are sealed before they are stored, so NUL is fine there;
# every other text is stored as text.
SEALED_RULES = [
    check.check_value,
    lambda t: check.check_value({t: t}),
    check.check_key_secret,
]
TEXT_RULES = [
    lambda t: check.check_label(t, "app"),
    check.check_key_id,
    check.check_actor,
    check.check_request_id,
    lambda t: check.check_tags({t: "v"}),
    lambda t: check.check_tags({"k": t}),
    lambda t: check.check_labels([t], "envs"),
    lambda t: check.check_text(t, "description"),
    check.check_name,
    check.check_namespace,
    check.check_tag_filter,
]


@pytest.mark.parametrize("rule", TEXT_RULES)
@given(text=odd_text)
def test_text_rules_accept_only_storable_text_when_given_odd_characters(
    rule: Any, text: str
) -> None:
    found = _outcome(rule, text)

    if not isinstance(found, ValidationError) and isinstance(found, str):
        assert _storable(found)
    for bad in ("\x00", "\ud800", "\udfff"):
        assert isinstance(_outcome(rule, "a" + bad + "b"), ValidationError)


@pytest.mark.parametrize("rule", SEALED_RULES)
@given(text=odd_text)
def test_sealed_rules_refuse_only_what_utf8_cannot_encode_when_given_odd_text(
    rule: Any, text: str
) -> None:
    found = _outcome(rule, text)

    encodable = not any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    if not text:
        return  # an empty str value is refused, an empty key in an object is not
    assert isinstance(found, ValidationError) == (not encodable)


@given(text=odd_text)
def test_labels_refuse_control_and_bidi_characters_when_checked(text: str) -> None:
    found = _outcome(check.check_label, text, "app")

    control = any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)
    invisible = any(c in text for c in ("\ufeff", "\u202e", "\u2066"))
    if control or invisible or not text or not _storable(text):
        assert isinstance(found, ValidationError)
    else:
        assert found == text


def test_descriptions_keep_tabs_and_line_breaks_when_checked() -> None:
    assert check.check_text("line one\n\tline two\r\n", "description")
    for bad in ("\x00", "\x1b", "\x7f", "\ud800"):
        with pytest.raises(ValidationError, match="description"):
            check.check_text("a" + bad, "description")


@given(moment=odd_moments)
def test_moments_are_accepted_only_when_every_time_zone_can_show_them(
    moment: datetime,
) -> None:
    found = _outcome(check.check_moment, moment, "expiry")

    if isinstance(found, ValidationError):
        return
    # Every offset can represent it: no reader overflows on it.
    for minutes in (-1439, 0, 1439):
        found.astimezone(timezone(timedelta(minutes=minutes)))


@pytest.mark.parametrize(
    "text",
    ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00Z"],
)
def test_moments_outside_utc_years_1_to_9999_are_refused_when_parsed(text: str) -> None:
    with pytest.raises(ValidationError, match="expires_at"):
        check.parse_moment(text, "expires_at")


def test_moments_need_an_offset_when_parsed() -> None:
    with pytest.raises(ValidationError):
        check.parse_moment("2026-01-01T00:00:00", "at")
    assert check.parse_moment(1_800_000_000, "at") == datetime.fromtimestamp(
        1_800_000_000, UTC
    )
    for bad in (float("nan"), 10**30, True, None):
        with pytest.raises(ValidationError):
            check.parse_moment(bad, "at")


@given(days=st.integers(min_value=-999_999_999, max_value=999_999_999))
def test_durations_are_bounded_when_checked(days: int) -> None:
    found = _outcome(check.check_duration, timedelta(days=days), "soon")

    assert isinstance(found, ValidationError) == (not 0 <= days <= 100 * 366)
    if not isinstance(found, ValidationError):
        check.expiry_after(datetime(9000, 1, 1, tzinfo=UTC), found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("2w", timedelta(14))],
)
def test_durations_are_parsed_when_written_with_a_unit(
    text: str, expected: timedelta
) -> None:
    assert check.parse_duration(text, "--expires") == expected


@pytest.mark.parametrize(
    "text", ["3000000d", "0d", "d", "1.5h", "\u0661\u0662h", "-1d", ""]
)
def test_durations_are_refused_when_too_long_or_malformed(text: str) -> None:
    with pytest.raises(ValidationError, match="--expires"):
        check.parse_duration(text, "--expires")


@given(number=st.one_of(st.integers(), st.just(10**5000), st.just(-(10**5000))))
def test_integers_in_values_are_refused_when_past_64_bits(number: int) -> None:
    found = _outcome(check.check_value, {"n": number})

    assert isinstance(found, ValidationError) == (abs(number) >= 2**63)


@given(number=st.one_of(st.integers(), st.just(10**30), st.booleans()))
def test_counts_are_bounded_when_checked(number: int) -> None:
    found = _outcome(check.check_count, number, "skip")

    ok = not isinstance(number, bool) and 0 <= number <= 2**63 - 1
    assert isinstance(found, ValidationError) != ok


@pytest.mark.parametrize("header", ["\u00b2", "\u0661", "1.0", "", "-1", "0", "x", '"'])
def test_version_headers_are_refused_when_not_ascii_digits(header: str) -> None:
    with pytest.raises(ValidationError):
        check.parse_version(header)


def test_version_headers_are_read_when_ascii_digits_maybe_quoted() -> None:
    assert check.parse_version('"12"') == 12
    assert check.parse_version(" 7 ") == 7


@pytest.mark.parametrize(
    "name", ["tmp/../prod-db", "a/./b", "a/..", "a/.", "./a", "../a"]
)
def test_names_with_dot_segments_are_refused_when_checked(name: str) -> None:
    with pytest.raises(ValidationError, match=r"'\.\.' segment"):
        check.check_name(name)


def test_names_with_dots_inside_segments_are_accepted_when_checked() -> None:
    for name in ("a/...", "a/.b", "a/b.", "v1.2/x", "_/.-"):
        assert check.check_name(name) == name


def test_name_lists_are_refused_when_one_str_is_given() -> None:
    with pytest.raises(ValidationError, match="list of secret names"):
        check.check_names("abc")
    assert check.check_names(("a", "b")) == ["a", "b"]


def test_pairs_are_refused_when_an_item_is_not_a_pair() -> None:
    with pytest.raises(ValidationError, match="pair"):
        list(check.check_pairs(["xy"]))
    with pytest.raises(ValidationError):
        list(check.check_pairs("xy"))
    assert list(check.check_pairs([("x", "y")])) == [("x", "y")]


def test_messages_name_the_field_never_the_input_when_refused() -> None:
    for rule, given_text in [
        (lambda t: check.check_text(t, "description"), "s3cret\x00"),
        (check.check_value, "s3cret\ud800"),
        (lambda t: check.check_value({"s3cret": t}), "\ud800"),
        (lambda t: check.check_tags({"k": t}), "s3cret\x1b"),
    ]:
        with pytest.raises(ValidationError) as caught:
            rule(given_text)
        assert "s3cret" not in str(caught.value)
        assert str(caught.value).startswith("invalid ")
