"""Tampering with stored bytes never yields a wrong plaintext (as in Vault's barrier tests).

Every trial alters one stored row - a flipped bit, a truncation, or an older row of
the same stream put back in its place - then runs every read. Each read must give
exactly what it gave before, or DecryptionError. The row is restored afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from strongroom import DecryptionError, SecretsManager, StrongroomError

from .raw import query

TRIALS = 40

# table: (the column holding sealed bytes, a column identifying the row)
_SEALED = {
    "strongroom_events": ("state", "notification_id"),
    "strongroom_heads": ("state", "id"),
    "strongroom_keys": ("wrapped", "id"),
}


def _outcome(read: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("value", read())
    except StrongroomError as exc:
        return ("error", type(exc).__name__)


def _store(sm: SecretsManager) -> dict[str, Callable[[], Any]]:
    sm.create("plain", "p1")
    sm.create("history", "h1")
    sm.update("history", value="h2")
    sm.patch("doc", {"a": 1})
    sm.patch("doc", {"b": 2})
    sm.create("revoked", "r1")
    sm.revoke("revoked")
    sm.create("gone", "g1")
    sm.delete("gone")
    return {
        "plain": lambda: sm.reveal("plain"),
        "history": lambda: sm.reveal("history"),
        "history v1": lambda: sm.reveal("history", version=1),
        "doc": lambda: sm.reveal("doc"),
        "doc v1": lambda: sm.reveal("doc", version=1),
        "revoked": lambda: sm.reveal("revoked"),
        "gone": lambda: sm.reveal("gone"),
        "versions": lambda: [v.version for v in sm.versions("history")],
    }


@pytest.mark.parametrize("kind", ["bit", "truncate", "replay"])
def test_no_read_yields_a_wrong_plaintext_when_any_row_is_tampered_with(
    sm: SecretsManager, store_url: str, kind: str
) -> None:
    reads = _store(sm)
    truth = {name: _outcome(read) for name, read in reads.items()}
    assert truth["plain"] == ("value", "p1")
    assert truth["gone"] == ("error", "SecretDeletedError")
    rng = random.Random(f"{kind}-{store_url[:8]}")
    tampered = 0
    for _ in range(TRIALS):
        table = rng.choice(sorted(_SEALED))
        column, key = _SEALED[table]
        if key == "notification_id" and store_url.startswith("sqlite"):
            key = "rowid"
        rows = query(store_url, f"SELECT {key}, {column} FROM {table}")
        where, sealed = rng.choice(rows)
        original = bytes(sealed)
        if kind == "bit":
            altered = bytearray(original)
            altered[rng.randrange(len(altered))] ^= 1 << rng.randrange(8)
            changed = bytes(altered)
        elif kind == "truncate":
            changed = original[: rng.randrange(len(original))]
        else:
            # Another row's bytes: an older state of the same stream, or another's.
            changed = rng.choice([bytes(s) for _, s in rows if bytes(s) != original])
        update = f"UPDATE {table} SET {column} = ? WHERE {key} = ?"
        query(store_url, update, (changed, where))
        try:
            for name, read in reads.items():
                got = _outcome(read)
                assert got in (truth[name], ("error", DecryptionError.__name__)), (
                    table,
                    name,
                    got,
                )
        finally:
            query(store_url, update, (original, where))
        tampered += 1
    assert tampered == TRIALS
    assert {name: _outcome(read) for name, read in reads.items()} == truth
