"""Keyset cursors and database URLs, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from strongroom.domain.errors import ValidationError
from strongroom.infrastructure.store import parse_url
from strongroom.projections.rows import Row, decode_cursor, encode_cursor


def test_cursor_round_trips_when_encoded() -> None:
    now = datetime.now(UTC)
    row = Row(uuid4(), "a/b", "team-a", 1, "active", now, None, now, None)

    assert decode_cursor(encode_cursor(row)) == ("team-a", "a/b")


@pytest.mark.parametrize("cursor", ["", "!!!", "bnVsbA", "WzEsMl0"])
def test_foreign_cursors_are_rejected_when_decoded(cursor: str) -> None:
    with pytest.raises(ValidationError):
        decode_cursor(cursor)


def test_postgres_urls_map_to_an_explicit_environment_when_parsed() -> None:
    backend, env = parse_url("postgres://alice:pw@db.example:6543/vault")

    assert backend == "postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db.example",
        "6543",
        "vault",
    )
    assert env["POSTGRES_ENABLE_DB_FUNCTIONS"] == "n"


def test_unknown_schemes_are_rejected_when_parsed() -> None:
    with pytest.raises(ValidationError):
        parse_url("mysql://x/y")
