"""Generated values follow AWS GetRandomPassword's rules: length, exclusions, one
of each kind when required, and errors for impossible combinations."""

from __future__ import annotations

import random
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom import Generate, SecretsManager, ValidationError
from strongroom.domain.generation import PUNCTUATION

KINDS = (string.ascii_lowercase, string.ascii_uppercase, string.digits, PUNCTUATION)


def test_generate_value_has_every_kind_when_defaults_are_used() -> None:
    value = SecretsManager.generate_value()

    assert len(value) == 32
    assert all(any(c in kind for c in value) for kind in KINDS)
    assert " " not in value


@given(
    length=st.integers(min_value=6, max_value=200),
    excluded=st.text(alphabet=string.printable, max_size=20),
    flags=st.lists(st.booleans(), min_size=5, max_size=5),
    seed=st.integers(),
)
def test_generated_values_keep_every_rule_when_options_combine(
    length: int, excluded: str, flags: list[bool], seed: int
) -> None:
    punctuation, numbers, lowercase, uppercase, space = flags
    try:
        rules = Generate(
            length=length,
            exclude_characters=excluded,
            exclude_punctuation=punctuation,
            exclude_numbers=numbers,
            exclude_lowercase=lowercase,
            exclude_uppercase=uppercase,
            include_space=space,
        )
    except ValidationError:
        return  # every kind excluded: covered below

    value = rules.value(random.Random(seed))

    assert len(value) == length
    assert not set(value) & set(excluded)
    for kind, out in zip(
        KINDS, (lowercase, uppercase, numbers, punctuation), strict=True
    ):
        allowed = set(kind) - set(excluded)
        if out or not allowed:
            assert not set(value) & set(kind)
        else:
            assert set(value) & allowed
    assert (" " in value) == (space and " " not in excluded)


@pytest.mark.parametrize(
    "options",
    [
        {"length": 0},
        {"length": 4097},
        {"length": True},
        {"length": 3},  # four kinds are required
        {
            "exclude_punctuation": True,
            "exclude_numbers": True,
            "exclude_lowercase": True,
            "exclude_uppercase": True,
        },
        {"exclude_characters": string.ascii_letters + string.digits + PUNCTUATION},
    ],
)
def test_generate_refuses_when_the_rules_cannot_be_kept(
    options: dict[str, object],
) -> None:
    with pytest.raises(ValidationError):
        Generate(**options)  # type: ignore[arg-type]


def test_generate_allows_a_short_value_when_each_kind_is_not_required() -> None:
    value = SecretsManager.generate_value(2, require_each_included_type=False)

    assert len(value) == 2
