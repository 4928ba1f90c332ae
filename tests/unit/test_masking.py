"""Masking a child's output: values and their encodings become *****, even when
written in pieces, and nothing else is held back or changed."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from strongroom.cli.masking import MASK, Masker

SECRET = "hunter2-s3cret"


def _through(masker: Masker, pieces: list[bytes]) -> bytes:
    return b"".join(masker.feed(piece) for piece in pieces) + masker.flush()


def test_masker_masks_a_value_and_its_encodings_when_written_whole() -> None:
    text = " | ".join(
        [
            SECRET,
            base64.b64encode(SECRET.encode()).decode(),
            quote(SECRET, safe=""),
            json.dumps(SECRET + '"')[1:-1],
        ]
    )

    out = _through(Masker([SECRET]), [text.encode()])

    assert SECRET.encode() not in out
    assert base64.b64encode(SECRET.encode()) not in out
    assert out.count(MASK) >= 4


def test_masker_leaves_short_values_alone_when_under_four_characters() -> None:
    assert _through(Masker(["abc"]), [b"abc abc"]) == b"abc abc"


def test_masker_passes_output_on_at_once_when_no_value_could_start_there() -> None:
    masker = Masker([SECRET])

    assert masker.feed(b"ready\n") == b"ready\n"
    assert masker.feed(b"half hun") == b"half "  # "hun" may start the secret
    assert masker.feed(b"gry\n") == b"hungry\n"


@given(
    st.text(max_size=40),
    st.text(max_size=40),
    st.lists(st.integers(min_value=0, max_value=120), max_size=6),
)
def test_masker_never_lets_a_value_through_when_it_is_split_anywhere(
    before: str, after: str, cuts: list[int]
) -> None:
    data = (before + SECRET + after).encode()
    points = sorted({min(c, len(data)) for c in cuts})
    pieces = [
        data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)
    ]

    out = _through(Masker([SECRET]), pieces)

    assert SECRET.encode() not in out
    assert out == _through(Masker([SECRET]), [data])


@given(st.binary(max_size=200))
def test_masker_changes_nothing_when_no_value_appears(data: bytes) -> None:
    masker = Masker(["zzzz-never-there"])

    assert _through(masker, [data[:50], data[50:]]) == data
