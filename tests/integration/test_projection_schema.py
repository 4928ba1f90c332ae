"""The projection's tables as stores meet them: several processes opening one new
store at once all succeed, and a store made before the lifecycle's columns gets
them (and keeps working) when it is opened."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from strongroom import SecretsManager, StrongroomError
from strongroom.infrastructure.recorders.base import META_TABLE
from tests.conftest import MASTER_KEY
from tests.integration.processes import race

from .raw import query

LATER = ("deletion_date", "rotation_interval", "last_rotated_at", "next_rotation_at")


def _open_at_once(url: str, start: Any, results: Any) -> None:
    start.wait(60)
    try:
        with SecretsManager.open(url, master_key=MASTER_KEY) as sm:
            sm.stats()
        results.put("opened")
    except StrongroomError as exc:
        results.put(type(exc).__name__)


def test_every_process_opens_a_new_store_when_they_start_together(
    store_url: str,
) -> None:
    outcomes = race(_open_at_once, [(store_url,)] * 5)

    assert outcomes == ["opened"] * 5


def test_a_store_made_before_the_lifecycle_gets_its_columns_when_opened(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.create("old", "v")
    for index in ("strongroom_listing_deletion", "strongroom_listing_rotation"):
        query(store_url, f"DROP INDEX {index}")
    for column in LATER:
        query(store_url, f"ALTER TABLE strongroom_listing DROP COLUMN {column}")
    if not store_url.startswith("sqlite"):
        # A store made before marks its schema with the version before.
        query(
            store_url,
            f"UPDATE {META_TABLE} SET value = ? WHERE left(name, 7) = 'schema:'",
            (b"7",),
        )

    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.update("old", rotation_interval=timedelta(days=30))
        sm.create("new", "v")
        sm.delete("new", recovery_window=timedelta(days=7))

        (old,) = [s for s in sm.list().items if s.name == "old"]
        assert old.next_rotation_at is not None
        assert sm.stats().pending_deletion == 1
