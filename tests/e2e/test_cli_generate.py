"""`strongroom generate` prints a value; `put --generate` stores one unseen."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from tests.e2e.cli import invoke


def test_generate_prints_a_value_by_the_rules_when_asked(home: Path) -> None:
    code, out, _ = invoke("generate", "--length", "20", "--exclude-punctuation")

    assert code == 0
    assert len(out) == 20
    assert set(out) <= set(string.ascii_letters + string.digits)


def test_put_stores_a_value_it_never_shows_when_generating(home: Path) -> None:
    code, out, err = invoke("put", "db/password", "--generate", "--length", "24")
    assert code == 0, err

    _, value, _ = invoke("reveal", "db/password")

    assert len(value) == 24
    assert value not in out + err


@pytest.mark.parametrize(
    "args",
    [
        ["--length", "0"],
        ["--length", "5000"],
        [
            "--exclude-punctuation",
            "--exclude-numbers",
            "--exclude-lowercase",
            "--exclude-uppercase",
        ],
    ],
)
def test_generate_exits_2_when_the_rules_cannot_be_kept(
    home: Path, args: list[str]
) -> None:
    assert invoke("generate", *args)[0] == 2
    assert invoke("put", "x", "--generate", *args)[0] == 2
