"""Lock waits are bounded: a write that cannot get its lock fails clearly, changing nothing."""

from __future__ import annotations

import threading
import time

import pytest

from strongroom import (
    SecretsManager,
    StoreBusyError,
    StoreUnavailableError,
    ValidationError,
)
from tests.conftest import MASTER_KEY

from .raw import query, writer_holding_the_lock


def _counts(url: str) -> tuple[int, int]:
    events = query(url, "SELECT count(*) FROM strongroom_events")[0][0]
    keys = query(url, "SELECT count(*) FROM strongroom_keys")[0][0]
    return int(events), int(keys)


def test_a_write_raises_store_busy_and_changes_nothing_when_another_holds_the_lock(
    store_url: str,
) -> None:
    url = store_url + "?lock_timeout=1"
    with SecretsManager.open(url, master_key=MASTER_KEY) as sm:
        sm.create("first", "v")
        before = _counts(store_url)
        with writer_holding_the_lock(store_url):
            started = time.monotonic()
            with pytest.raises(StoreBusyError) as caught:
                sm.create("second", "canary-busy")
            waited = time.monotonic() - started
        assert isinstance(caught.value, StoreUnavailableError)
        assert "busy" in str(caught.value)
        assert "canary-busy" not in str(caught.value)
        assert caught.value.__cause__ is None
        # One lock timeout, not one per retry.
        assert 0.9 <= waited < 5
        assert _counts(store_url) == before
        # The lock is gone: the same write goes through, once.
        sm.create("second", "v2")
        assert sm.reveal("second") == "v2"
        assert sm.stats().total == 2


@pytest.mark.parametrize("given", ["0", "-1", "1.5", "x", "", "86401"])
def test_opening_raises_validation_error_when_lock_timeout_is_not_whole_seconds(
    store_url: str, given: str
) -> None:
    with pytest.raises(ValidationError, match="lock_timeout"):
        SecretsManager.open(f"{store_url}?lock_timeout={given}", master_key=MASTER_KEY)


def test_concurrent_writes_each_raise_store_busy_once_when_another_holds_the_lock(
    store_url: str,
) -> None:
    url = store_url + "?lock_timeout=1"
    with SecretsManager.open(url, master_key=MASTER_KEY) as sm:
        sm.create("first", "v")
        before = _counts(store_url)
        outcomes: list[BaseException | None] = []

        def write(i: int) -> None:
            try:
                sm.create(f"batch-{i}", "v")
            except BaseException as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)

        with writer_holding_the_lock(store_url):
            started = time.monotonic()
            threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            waited = time.monotonic() - started

        assert len(outcomes) == 4
        assert all(isinstance(outcome, StoreBusyError) for outcome in outcomes)
        # A batch that waited out the lock is not retried write by write: on
        # PostgreSQL at most two batches wait (the first writer's, then the rest),
        # while SQLite's writers wait one after another.
        assert waited < (3.5 if store_url.startswith("postgres") else 7)
        assert _counts(store_url) == before
