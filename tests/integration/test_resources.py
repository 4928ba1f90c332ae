"""Resource bounds: opening and closing leaks nothing; long scans stream."""

from __future__ import annotations

import os
import threading
import time

import pytest

from strongroom import SecretsManager
from tests.conftest import MASTER_KEY

from .raw import query

CYCLES = int(os.environ.get("STRONGROOM_TEST_OPEN_CYCLES", "1000"))


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _server_connections(url: str) -> int:
    if url.startswith("sqlite"):
        return 0
    dbname = url.rsplit("/", 1)[-1].split("?", 1)[0]
    (count,) = query(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()",
        (dbname,),
    )[0]
    return int(count)


def _server_connections_settle(url: str, at_most: int) -> int:
    # A backend leaves pg_stat_activity after the client has gone: closing
    # sends Terminate and returns without waiting for the server to exit.
    deadline = time.monotonic() + 10
    while (count := _server_connections(url)) > at_most and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_open_and_close_leak_no_descriptor_connection_or_thread_when_repeated(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.create("svc", "v")
    fds, threads = _open_fds(), threading.active_count()
    connections = _server_connections(store_url)

    for i in range(CYCLES):
        with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
            # Every pool a manager has: writes, kept reads, projections.
            if i % 10 == 0:
                assert sm.reveal("svc") == "v"
                sm.update("svc", value="v")
                sm.stats()
        sm.close()  # idempotent

    assert _open_fds() <= fds + 2
    assert threading.active_count() <= threads
    assert _server_connections_settle(store_url, connections) <= connections


def test_a_long_scan_is_read_in_pages_when_listing_and_auditing(
    sm: SecretsManager,
) -> None:
    sm.create_many((f"s/{i:05d}", "v") for i in range(1_200))
    listed = audited = 0
    cursor = None
    while True:
        page = sm.list(limit=100, cursor=cursor)
        assert len(page.items) <= 100
        listed += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    for _ in sm.audit():
        audited += 1

    assert listed == audited == 1_200
