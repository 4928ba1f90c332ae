"""Group commit: shared batches, each caller with its own result or error (no I/O)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from strongroom.infrastructure.commit import GroupCommit


class Store:
    """Commits batches of ints; a batch holding a negative one fails whole."""

    def __init__(self, *, error: type[Exception] = ValueError) -> None:
        self.batches: list[list[int]] = []
        self.error = error
        self.gate = threading.Event()
        self.gate.set()

    def commit(self, items: Sequence[int]) -> list[int]:
        self.gate.wait(5)
        self.batches.append(list(items))
        if any(i < 0 for i in items):
            raise self.error(f"batch {list(items)} refused")
        return [i * 10 for i in items]


def _submit_all(group: GroupCommit[int, int], items: list[int]) -> dict[int, object]:
    results: dict[int, object] = {}

    def run(item: int) -> None:
        try:
            results[item] = group.submit(item)
        except Exception as exc:
            results[item] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_each_caller_gets_its_own_result_when_writes_share_a_batch() -> None:
    store = Store()
    group: GroupCommit[int, int] = GroupCommit(store.commit)
    store.gate.clear()  # the first batch waits, so the others queue behind it
    threading.Timer(0.05, store.gate.set).start()

    results = _submit_all(group, list(range(1, 9)))

    assert results == {i: i * 10 for i in range(1, 9)}
    assert sorted(i for batch in store.batches for i in batch) == list(range(1, 9))
    assert any(len(batch) > 1 for batch in store.batches)


def test_only_the_bad_write_fails_when_its_batch_is_retried_alone() -> None:
    store = Store()
    group: GroupCommit[int, int] = GroupCommit(store.commit)
    store.gate.clear()
    threading.Timer(0.05, store.gate.set).start()

    results = _submit_all(group, [1, 2, -3, 4, 5])

    assert isinstance(results.pop(-3), ValueError)
    assert results == {1: 10, 2: 20, 4: 40, 5: 50}


def test_a_batch_is_never_written_again_when_retrying_alone_is_refused() -> None:
    store = Store(error=ConnectionError)
    group: GroupCommit[int, int] = GroupCommit(
        store.commit, retry_alone=lambda exc: not isinstance(exc, ConnectionError)
    )
    store.gate.clear()
    threading.Timer(0.05, store.gate.set).start()

    results = _submit_all(group, [1, -2, 3, 4])

    failed = [batch for batch in store.batches if -2 in batch]
    assert len(failed) == 1, "the batch holding the failure was written again"
    for item in failed[0]:
        assert isinstance(results[item], ConnectionError)
    # Each caller raises its own exception object.
    assert len({id(results[item]) for item in failed[0]}) == len(failed[0])


def test_a_lone_caller_commits_its_own_write_when_nobody_else_writes() -> None:
    store = Store()
    group: GroupCommit[int, int] = GroupCommit(store.commit)

    assert [group.submit(i) for i in (1, 2, 3)] == [10, 20, 30]
    assert store.batches == [[1], [2], [3]]
    with pytest.raises(ValueError, match="refused"):
        group.submit(-1)
