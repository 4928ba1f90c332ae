"""Concurrency: processes x threads hammering a few names with every operation.

Afterwards: value versions are contiguous per secret, each name has one id, patch
counters are exact, listings and stats equal what the aggregates say, and nobody
deadlocked or met an error other than the domain's answers to a race.
"""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any

import pytest

from strongroom import (
    NameReservedError,
    SecretDeletedError,
    SecretExistsError,
    SecretNotFoundError,
    SecretRevokedError,
    SecretsManager,
    VersionConflictError,
)
from tests.conftest import MASTER_KEY

from .processes import race

PROCESSES, THREADS = 3, 3
SECONDS = float(os.environ.get("STRONGROOM_TEST_HAMMER_SECONDS", "4"))
NAMES = [f"shared/{i}" for i in range(6)]
COUNTER = "shared/counter"
# What a race may legitimately answer.
EXPECTED = (
    NameReservedError,
    SecretDeletedError,
    SecretExistsError,
    SecretNotFoundError,
    SecretRevokedError,
    VersionConflictError,
)


def _hammer(url: str, proc: int, start: Any, results: Any) -> None:
    unexpected: list[str] = []
    patched: dict[str, int] = {}
    operations = 0
    with SecretsManager.open(url, master_key=MASTER_KEY) as sm:
        start.wait()
        deadline = time.monotonic() + SECONDS

        def work(thread: int) -> None:
            nonlocal operations
            rng = random.Random(proc * 100 + thread)
            me = f"p{proc}t{thread}"
            while time.monotonic() < deadline:
                name = rng.choice(NAMES)
                op = rng.randrange(11)
                try:
                    if op == 0:
                        sm.create(name, {"by": me})
                    elif op == 1:
                        sm.put(name, {"put by": me})
                    elif op == 2:
                        current = sm.get(name).version
                        sm.update(
                            name, value={"updated by": me}, expected_version=current
                        )
                    elif op == 3:
                        sm.patch(name, {me: 1})
                    elif op == 4 and rng.random() < 0.1:
                        sm.delete(name)
                    elif op == 5:
                        sm.revoke(name)
                    elif op == 6:
                        sm.reinstate(name)
                    elif op == 7:
                        sm.reveal(name)
                    elif op == 8:
                        sm.list(limit=5)
                        sm.stats()
                    else:
                        sm.patch(
                            COUNTER,
                            lambda old: {**old, me: old.get(me, 0) + 1},
                            retries=200,
                        )
                        patched[me] = patched.get(me, 0) + 1
                except EXPECTED:
                    pass
                except Exception as exc:
                    unexpected.append(f"{type(exc).__name__}: {exc}")
                operations += 1

        threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SECONDS + 120)
        alive = sum(thread.is_alive() for thread in threads)
    results.put((unexpected, patched, operations, alive))


@pytest.mark.slow
def test_invariants_hold_when_processes_and_threads_hammer_shared_names(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.patch(COUNTER, {"start": 0})

    outcomes = race(_hammer, [(store_url, p) for p in range(PROCESSES)])

    patched: dict[str, int] = {}
    print(f"hammer: {sum(o[2] for o in outcomes)} operations")
    for unexpected, counts, operations, alive in outcomes:
        assert unexpected == []
        assert alive == 0, "a worker thread never finished (deadlock?)"
        assert operations > 10
        patched |= counts
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        counter = sm.reveal(COUNTER)
        assert {k: v for k, v in counter.items() if k != "start"} == patched

        live: dict[str, str] = {}
        deleted = 0
        for name in [*NAMES, COUNTER]:
            try:
                info = sm.get(name)
            except SecretNotFoundError:
                try:
                    sm.get(name, include_deleted=True)
                except SecretNotFoundError:
                    continue  # never created
                deleted += 1
                continue
            versions = sorted(v.version for v in sm.versions(name))
            assert versions == list(range(1, len(versions) + 1)), name
            assert info.version == versions[-1]
            live[name] = str(info.status)

        listed: dict[str, str] = {}
        cursor = None
        while True:
            page = sm.list(limit=100, cursor=cursor)
            for item in page.items:
                assert item.name not in listed, f"{item.name} is listed twice"
                assert item.id == sm.get(item.name).id
                listed[item.name] = str(item.status)
            if (cursor := page.next_cursor) is None:
                break
        assert listed == live
        truth = (
            len(live),
            sum(s == "active" for s in live.values()),
            sum(s == "revoked" for s in live.values()),
            deleted,
        )
        stats = sm.stats()
        assert (stats.total, stats.active, stats.revoked, stats.deleted) == truth
        sm.rebuild_projections()
        stats = sm.stats()
        assert (stats.total, stats.active, stats.revoked, stats.deleted) == truth
