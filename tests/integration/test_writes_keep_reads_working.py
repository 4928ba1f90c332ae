"""The store's invariant, generated over every field a write takes, on both backends:
a write either raises ValidationError and writes nothing, or succeeds and leaves
every read of the store working for everyone (list, get, history, versions, stats,
audit, export, the key API, the token list, rebuild).

Odd input: NUL, lone surrogates, control characters, a byte-order mark, bidi
overrides, moments near the ends of time in any offset, integers past 64 bits.
``STRONGROOM_INVARIANT_EXAMPLES`` sets the number of examples (default 2,000).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongroom import (
    ConflictError,
    RotationFailedError,
    SecretsManager,
    ValidationError,
    VersionNotFoundError,
)
from tests.odd_input import odd_integers, odd_moments, odd_text

from .raw import query

EXAMPLES = int(os.environ.get("STRONGROOM_INVARIANT_EXAMPLES", "2000"))
Write = Callable[[SecretsManager, str, Any], Any]
# Each write puts the odd input into one field; ``name`` is fresh for every example
# (writes named "update", "delete" or "reveal" act on a secret made beforehand).
TEXT_WRITES: dict[str, Write] = {
    "name": lambda sm, name, odd: sm.create(name + odd, "v"),
    "namespace": lambda sm, name, odd: sm.create(name, "v", namespace=odd),
    "value": lambda sm, name, odd: sm.create(name, odd),
    "value key": lambda sm, name, odd: sm.create(name, {odd: 1}),
    "value string": lambda sm, name, odd: sm.create(name, {"k": [odd]}),
    "description": lambda sm, name, odd: sm.create(name, "v", description=odd),
    "token_type": lambda sm, name, odd: sm.create(name, "v", token_type=odd),
    "allowed_apps": lambda sm, name, odd: sm.create(name, "v", allowed_apps=[odd]),
    "envs": lambda sm, name, odd: sm.create(name, "v", envs=[odd]),
    "tag key": lambda sm, name, odd: sm.create(name, "v", tags={odd: "v"}),
    "tag value": lambda sm, name, odd: sm.create(name, "v", tags={"k": odd}),
    "actor": lambda sm, name, odd: sm.create(name, "v", actor=odd),
    "request_id": lambda sm, name, odd: sm.create(name, "v", request_id=name + odd),
    "update description": lambda sm, name, odd: sm.update(name, description=odd),
    "update tags": lambda sm, name, odd: sm.update(name, tags={odd: odd}),
    "update actor": lambda sm, name, odd: sm.update(name, value="w", actor=odd),
    "patch": lambda sm, name, odd: sm.patch(name, {odd: odd}),
    "delete actor": lambda sm, name, odd: sm.delete(name, actor=odd),
    "reveal actor": lambda sm, name, odd: sm.reveal(name, actor=odd, audit=True),
    "key id": lambda sm, name, odd: sm.keys.set_secret(name + odd, "k"),
    "key secret": lambda sm, name, odd: sm.keys.set_secret(name, odd),
    "token name": lambda sm, name, odd: sm.tokens.create(
        scopes=["secrets:read"], name=odd
    ),
    "token app": lambda sm, name, odd: sm.tokens.create(
        scopes=["secrets:reveal"], app=odd, env=odd
    ),
    "import line": lambda sm, name, odd: sm.import_secrets(
        [
            json.dumps(
                {"name": name, "value": "v", "description": odd, "tags": {odd: odd}}
            )
        ]
    ),
}
MOMENT_WRITES: dict[str, Write] = {
    "expires_at": lambda sm, name, at: sm.create(name, "v", expires_at=at),
    "update expires_at": lambda sm, name, at: sm.update(name, expires_at=at),
    "token expiry": lambda sm, name, at: sm.tokens.create(
        scopes=["secrets:read"], expires_at=at
    ),
    "import expires_at": lambda sm, name, at: sm.import_secrets(
        [json.dumps({"name": name, "value": "v", "expires_at": at.isoformat()})]
    ),
}
INTEGER_WRITES: dict[str, Write] = {
    "value number": lambda sm, name, n: sm.create(name, {"n": n}),
    "patch number": lambda sm, name, n: sm.patch(name, {"n": [n]}),
    "update label version": lambda sm, name, n: _versioned(
        lambda: sm.label(name, n, "golden")
    ),
}


def _versioned(write: Callable[[], Any]) -> Any:
    """A write naming a version that may not exist: VersionNotFoundError is its
    answer then (nothing written), not a refusal of the input."""
    try:
        return write()
    except VersionNotFoundError:
        return None


def _failing_rotation(sm: SecretsManager, name: str, reason: str) -> None:
    """A rotation whose hook fails with ``reason``: RotationFailed is recorded."""

    def hook(step: str, secret: str, value: Any) -> None:
        raise RuntimeError(reason)

    with contextlib.suppress(RotationFailedError):
        sm.rotate(name, hook=hook, value=reason or "v")


TEXT_WRITES.update(
    {
        "update label": lambda sm, name, odd: sm.label(name, 1, odd),
        "update unlabel": lambda sm, name, odd: sm.unlabel(name, odd),
        "update stage_pending": lambda sm, name, odd: sm.stage_pending(
            name, odd, version_id=name + odd
        ),
        "update rotate version id": lambda sm, name, odd: sm.rotate(
            name, version_id=odd
        ),
        "update rotation failure": _failing_rotation,
        "reveal stage": lambda sm, name, odd: _versioned(
            lambda: sm.reveal(name, stage=odd, audit=True)
        ),
        "reveal version id": lambda sm, name, odd: _versioned(
            lambda: sm.reveal_detail(name, version_id=odd, audit=True)
        ),
    }
)
MOMENT_WRITES["delete purge"] = lambda sm, name, at: sm.purge_due(now=at)
DURATION_WRITES: dict[str, Write] = {
    "update rotation_interval": lambda sm, name, d: sm.update(
        name, rotation_interval=d
    ),
    "delete recovery_window": lambda sm, name, d: sm.delete(name, recovery_window=d),
}


def _log_size(url: str) -> int:
    return int(query(url, "SELECT count(*) FROM strongroom_events")[0][0])


def _reads_work(sm: SecretsManager, name: str, since: datetime) -> None:
    """The reads an example's write could have broken, for everyone."""
    sm.stats()
    sm.stats(namespace="ns")
    list(sm.audit(since=since))
    sm.list(limit=5)
    sm.list(prefix=name)
    sm.tokens.list()
    sm.keys.load_secrets(limit=5, ids=[name])
    if sm.exists(name):
        sm.get(name)
        sm.history(name)
        sm.versions(name)


def _everything_works(sm: SecretsManager) -> int:
    """Every read over the whole store; the number of live secrets listed."""
    listed, cursor = 0, None
    while True:
        page = sm.list(limit=1000, cursor=cursor)
        listed += len(page.items)
        for secret in page.items[:50]:
            sm.history(secret.name, namespace=secret.namespace)
        if (cursor := page.next_cursor) is None:
            break
    list(sm.list(status="deleted", limit=1000).items)
    assert sum(1 for _ in sm.export_secrets(plaintext=True)) == listed
    list(sm.audit())
    list(sm.keys.export_secrets(plaintext=True))
    sm.tokens.list()
    assert sm.stats().total == listed
    return listed


def test_any_write_is_refused_cleanly_or_keeps_every_read_working_when_fuzzed(
    sm: SecretsManager, store_url: str
) -> None:
    counter = itertools.count()
    seen = {"accepted": 0, "refused": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
        ],
    )
    @given(
        case=st.one_of(
            st.tuples(st.sampled_from(sorted(TEXT_WRITES)), odd_text),
            st.tuples(st.sampled_from(sorted(MOMENT_WRITES)), odd_moments),
            st.tuples(st.sampled_from(sorted(INTEGER_WRITES)), odd_integers),
            st.tuples(st.sampled_from(sorted(DURATION_WRITES)), st.timedeltas()),
        )
    )
    def write_then_read(case: tuple[str, Any]) -> None:
        field, odd = case
        write = {**TEXT_WRITES, **MOMENT_WRITES, **INTEGER_WRITES, **DURATION_WRITES}[
            field
        ]
        name = f"s{next(counter)}"
        since = datetime.now(UTC) - timedelta(seconds=1)
        if field.startswith(("update", "delete", "reveal")):
            sm.create(name, "v")  # the secret the write acts on
        before = _log_size(store_url)
        refusal = None
        try:
            write(sm, name, odd)
        except ValidationError as exc:
            refusal = str(exc)
        except ConflictError:
            # A name or key id made of odd input may meet an earlier one.
            assert field in {
                "name",
                "key id",
                "request_id",
                "update stage_pending",
                "update rotate version id",
            }, field
        else:
            seen["accepted"] += 1
        if refusal is not None:
            seen["refused"] += 1
            assert refusal.startswith(("invalid ", "import line ")), refusal
            assert _log_size(store_url) == before, f"{field}: refused but wrote"
        _reads_work(sm, name, since)

    write_then_read()
    assert seen["accepted"], seen
    assert seen["refused"], seen
    listed = _everything_works(sm)
    sm.rebuild_projections()
    assert _everything_works(sm) == listed
