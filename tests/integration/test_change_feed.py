"""The change feed: committed changes in log order, metadata only, resumable by
position, filtered by namespace and prefix; a watch wakes on another manager's
commit and ends when closed from another thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from strongroom import Action, Change, SecretsManager, ValidationError
from tests.conftest import MASTER_KEY


@pytest.fixture
def manager(store_url: str) -> Iterator[SecretsManager]:
    with SecretsManager.open(store_url, master_key=MASTER_KEY, actor="alice") as sm:
        yield sm


def _actions(changes: object) -> list[tuple[str | None, Action]]:
    assert isinstance(changes, list | tuple) or hasattr(changes, "__iter__")
    return [(c.name, c.action) for c in changes]  # type: ignore[attr-defined]


def test_changes_lists_each_change_in_log_order_when_secrets_change(
    manager: SecretsManager,
) -> None:
    manager.create("db/password", "s3cret-value")
    manager.update("db/password", value="n3w-value")
    manager.reveal("db/password", audit=True)
    manager.revoke("db/password")
    manager.delete("db/password")

    page = manager.changes()

    assert _actions(page) == [
        ("db/password", Action.CREATED),
        ("db/password", Action.UPDATED),
        ("db/password", Action.REVOKED),
        ("db/password", Action.DELETED),
    ]
    positions = [c.position for c in page]
    assert positions == sorted(positions)
    assert page.position == positions[-1]
    assert [c.version for c in page][:2] == [1, 2]
    assert {c.actor for c in page} == {"alice"}
    assert "s3cret" not in repr(page)
    assert "n3w" not in repr(page)


def test_changes_goes_on_from_a_page_position_when_more_changes_follow(
    manager: SecretsManager,
) -> None:
    for i in range(5):
        manager.create(f"app/k{i}", "v")

    first = manager.changes(limit=2)
    second = manager.changes(first.position, limit=2)
    rest = manager.changes(second.position)

    names = [c.name for page in (first, second, rest) for c in page]
    assert names == [f"app/k{i}" for i in range(5)]
    assert len(manager.changes(rest.position)) == 0


def test_changes_moves_past_reveals_when_only_reveals_followed(
    manager: SecretsManager,
) -> None:
    manager.create("k", "v")
    before = manager.changes()
    for _ in range(3):
        manager.reveal("k", audit=True)

    after = manager.changes(before.position)

    assert len(after) == 0
    assert after.position > before.position


def test_changes_shows_only_a_namespace_when_filtered_by_it(
    manager: SecretsManager,
) -> None:
    manager.create("k", "v", namespace="team-a")
    manager.create("k", "v", namespace="team-b")
    manager.create("k", "v")

    page = manager.changes(namespace="team-a")

    assert [(c.namespace, c.name) for c in page] == [("team-a", "k")]


def test_changes_shows_only_names_under_a_prefix_when_filtered_by_it(
    manager: SecretsManager,
) -> None:
    for name in ("db/password", "db/user", "dbx", "api/key", "db_a", "dbXa"):
        manager.create(name, "v")

    assert [c.name for c in manager.changes(prefix="db/")] == [
        "db/password",
        "db/user",
    ]
    # Not a LIKE pattern: "_" is itself.
    assert [c.name for c in manager.changes(prefix="db_")] == ["db_a"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"after": -1}, "after"),
        ({"after": 2**64}, "after"),
        ({"after": True}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 10**6}, "limit"),
        ({"prefix": "db\x00"}, "prefix"),
        ({"prefix": "\ud800"}, "prefix"),
        ({"namespace": "a/../b"}, "namespace"),
    ],
)
def test_changes_refuses_a_bad_argument_when_given_one(
    manager: SecretsManager, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError, match=field):
        manager.changes(**kwargs)  # type: ignore[arg-type]


def test_watch_yields_another_managers_change_when_it_commits(
    manager: SecretsManager, store_url: str
) -> None:
    manager.create("before", "v")
    seen: list[Change] = []
    with manager.watch() as watch:
        ready = threading.Event()

        def follow() -> None:
            ready.set()
            for change in watch:
                seen.append(change)
                return

        follower = threading.Thread(target=follow)
        follower.start()
        ready.wait()
        with SecretsManager.open(store_url, master_key=MASTER_KEY) as other:
            committed = time.monotonic()
            other.create("after", "v")
        follower.join(timeout=10)
        waited = time.monotonic() - committed

    assert [c.name for c in seen] == ["after"]  # not "before": it started now
    assert waited < 5


def test_watch_resumes_after_a_position_when_given_one(
    manager: SecretsManager,
) -> None:
    manager.create("a", "v")
    start = manager.changes().position
    manager.create("b", "v")
    manager.create("c", "v")

    with manager.watch(start) as watch:
        got = [next(watch).name, next(watch).name]
        assert watch.position > start

    assert got == ["b", "c"]


def test_watch_ends_when_closed_from_another_thread(
    manager: SecretsManager,
) -> None:
    watch = manager.watch()
    finished = threading.Event()

    def follow() -> None:
        for _ in watch:
            pass
        finished.set()

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.3)  # let it wait on the signal
    watch.close()
    follower.join(timeout=5)

    assert finished.is_set()
    with pytest.raises(StopIteration):
        next(watch)


def test_watch_filters_by_namespace_when_bound_to_one(
    manager: SecretsManager,
) -> None:
    with manager.watch(namespace="team-a") as watch:
        manager.create("k", "v", namespace="team-b")
        manager.create("k", "v")
        manager.create("mine", "v", namespace="team-a")
        change = next(watch)

    assert (change.namespace, change.name) == ("team-a", "mine")


def test_watch_reads_the_log_only_when_signalled_when_nothing_commits(
    manager: SecretsManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    from strongroom.services.feed import Feed

    reads: list[int] = []
    page = Feed._page

    def counted(self: Feed, *args: object) -> object:
        reads.append(1)
        return page(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Feed, "_page", counted)
    with manager.watch() as watch:
        follower = threading.Thread(target=lambda: next(watch, None))
        follower.start()
        time.sleep(1.5)  # six wait slices with nothing committed
        idle_reads = len(reads)
        manager.create("wake", "v")
        follower.join(timeout=10)

    assert idle_reads == 1  # the first page only
    assert not follower.is_alive()
