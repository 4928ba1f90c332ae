"""The text rules of references: what counts as one, escapes, where a reference may
point, and substitution (no database)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from strongroom.domain.references import Address, candidates, references, substitute


def test_references_are_found_when_written_with_braces() -> None:
    assert list(references("a ${x} b ${ns/y} $${z} $w ${}")) == ["x", "ns/y", ""]


def test_references_are_found_when_inside_a_json_object() -> None:
    value = {"a": "${x}", "b": {"c": ["${y}", 1]}, "d": 2}

    assert sorted(references(value)) == ["x", "y"]


def test_candidates_try_the_home_namespace_first_when_the_name_has_a_slash() -> None:
    assert candidates("db/password", None) == [
        Address(None, "db/password"),
        Address("db", "password"),
    ]
    assert candidates("key", "payments") == [
        Address("payments", "key"),
        Address(None, "key"),  # global secrets are shared by every namespace
    ]
    # Not a namespace (capitals): only the name itself.
    assert candidates("DB/x", None) == [Address(None, "DB/x")]


def test_substitute_replaces_each_reference_when_resolved() -> None:
    got = substitute("${a}-${b}-$${c}", lambda ref: ref.upper())

    assert got == "A-B-${c}"


def test_substitute_puts_compact_json_when_the_target_is_an_object() -> None:
    assert substitute("x=${o}", lambda _: {"k": [1, "é"]}) == 'x={"k":[1,"é"]}'


_NO_MARKERS = st.text().filter(lambda t: "${" not in t)


@given(_NO_MARKERS)
def test_substitute_changes_nothing_when_there_is_no_reference(text: str) -> None:
    def fail(_: str) -> str:
        raise AssertionError

    assert substitute(text, fail) == text


@given(_NO_MARKERS, _NO_MARKERS)
def test_substitute_unescapes_once_when_a_reference_is_escaped(
    before: str, after: str
) -> None:
    text = before + "$${x}" + after
    if before.endswith("$"):
        return  # "$$${x}" is "$" then an escape: another case

    assert substitute(text, lambda _: "!") == before + "${x}" + after
