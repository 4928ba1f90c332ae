"""Crash safety: writers killed with SIGKILL at random moments lose nothing acknowledged.

Each run starts a writer process (crash_child.py) on one shared store, waits for
it to start writing, and kills it after a random delay. Afterwards every secret and
key is in the state its acknowledged operations left it in, or one operation
further (the one in flight at the kill); deleted secrets are shredded and their
names reserved; no key row is orphaned; the projections agree with the aggregates,
and a rebuild changes nothing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from strongroom import (
    NameReservedError,
    SecretDeletedError,
    SecretNotFoundError,
    SecretsManager,
)
from tests.conftest import MASTER_KEY

from .raw import id_param, query

KILLS = int(os.environ.get("STRONGROOM_TEST_CRASH_KILLS", "20"))
CHILD = Path(__file__).with_name("crash_child.py")


def _apply(state: Any, op: str, arg: Any) -> Any:
    if op in ("create", "update", "set_key"):
        return ("live", arg)
    if op in ("delete", "delete_key"):
        return ("deleted", None)
    if op == "patch" and state[0] == "live" and isinstance(state[1], dict):
        return ("live", {**state[1], **arg})
    return state


def _expected(log: Path) -> dict[str, list[Any]]:
    """Per name or key id: the states its acknowledged operations allow."""
    acked: dict[str, Any] = {}
    inflight: tuple[str, str, Any] | None = None
    for line in log.read_text().splitlines():
        fields = json.loads(line)
        if fields[0] == "intent":
            inflight = (fields[1], fields[2], fields[3])
        elif fields[0] == "ack":
            _, op, name, arg = fields
            acked[name] = _apply(acked.get(name, ("absent", None)), op, arg)
            inflight = None
    allowed = {name: [state] for name, state in acked.items()}
    if inflight is not None:
        op, name, arg = inflight
        before = acked.get(name, ("absent", None))
        allowed.setdefault(name, [before]).append(_apply(before, op, arg))
    return allowed


def _actual(sm: SecretsManager, name: str) -> Any:
    if "/k" in name:
        material = sm.keys.get_secret(name)
        return ("live", material) if material is not None else None
    try:
        return ("live", sm.reveal(name))
    except SecretDeletedError:
        return ("deleted", None)
    except SecretNotFoundError:
        return ("absent", None)


@pytest.mark.slow
def test_nothing_acknowledged_is_lost_when_writers_are_killed_at_random(
    store_url: str, tmp_path: Path
) -> None:
    rng = random.Random(7)
    env = {**os.environ, "STRONGROOM_TEST_CRASH_KEY": MASTER_KEY.hex()}
    logs = []
    with SecretsManager.open(store_url, master_key=MASTER_KEY):
        pass  # the schema exists before the first child starts
    for run in range(KILLS):
        log = tmp_path / f"run-{run}.log"
        log.touch()
        child = subprocess.Popen(
            [sys.executable, str(CHILD), store_url, str(run), str(log)], env=env
        )
        deadline = time.monotonic() + 60
        while '"ready"' not in log.read_text():
            assert child.poll() is None, f"the writer of run {run} died on its own"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(rng.uniform(0.02, 0.4))
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        assert child.returncode == -signal.SIGKILL
        logs.append(log)

    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        live: set[str] = set()
        live_keys = 0
        acknowledged = 0
        for log in logs:
            acknowledged += log.read_text().count('["ack"')
            for name, allowed in _expected(log).items():
                got = _actual(sm, name)
                if "/k" in name:
                    assert got in [s if s[0] == "live" else None for s in allowed], name
                    live_keys += got is not None
                    continue
                assert got in allowed, (name, got, allowed)
                if got[0] == "live":
                    live.add(name)
                if got[0] == "deleted":
                    info = sm.get(name, include_deleted=True)
                    rows = query(
                        store_url,
                        "SELECT count(*) FROM strongroom_keys WHERE id = ?",
                        (id_param(store_url, info.id),),
                    )
                    assert rows == [(0,)], f"{name}: its data key survived the delete"
                    with pytest.raises(NameReservedError):
                        sm.create(name, "again")
        assert acknowledged > KILLS
        print(f"crash safety: {KILLS} SIGKILLs, {acknowledged} acknowledged operations")

        # One key row per live secret and live aggregate key, and the store key.
        (key_rows,) = query(store_url, "SELECT count(*) FROM strongroom_keys")[0]
        assert key_rows == 1 + len(live) + live_keys

        def projected() -> tuple[int, set[str]]:
            names: set[str] = set()
            cursor = None
            while True:
                page = sm.list(limit=100, cursor=cursor)
                names |= {item.name for item in page.items}
                if (cursor := page.next_cursor) is None:
                    return sm.stats().total, names

        assert projected() == (len(live), live)
        sm.rebuild_projections()
        assert projected() == (len(live), live)
