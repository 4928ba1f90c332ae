"""``PERSISTENCE_MODULE=strongroom.shredding.sqlite``: eventsourcing's SQLite
persistence, with every aggregate sealed under its own strongroom key.

Takes eventsourcing's ``SQLITE_*`` settings unchanged. The keys live in the
application's own database file unless ``STRONGROOM_DATABASE_URL`` names another
store (required for an in-memory database); in its own file a new aggregate's key
commits with its first events.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import eventsourcing.sqlite as es_sqlite

from strongroom.shredding.persistence import (
    KeyedAggregateRecorder,
    KeyedApplicationRecorder,
    KeyedFactory,
)

if TYPE_CHECKING:
    from eventsourcing.utils import Environment, EnvType

__all__ = [
    "ShreddingSQLiteAggregateRecorder",
    "ShreddingSQLiteApplicationRecorder",
    "ShreddingSQLiteFactory",
    "ShreddingSQLiteProcessRecorder",
]


class ShreddingSQLiteAggregateRecorder(
    KeyedAggregateRecorder, es_sqlite.SQLiteAggregateRecorder
):
    """eventsourcing's aggregate recorder (snapshots), reading keys with events."""


class ShreddingSQLiteApplicationRecorder(
    KeyedApplicationRecorder, es_sqlite.SQLiteApplicationRecorder
):
    """eventsourcing's application recorder, writing new keys with the events."""


class ShreddingSQLiteProcessRecorder(
    KeyedApplicationRecorder, es_sqlite.SQLiteProcessRecorder
):
    """eventsourcing's process recorder, writing new keys with the events."""


class ShreddingSQLiteFactory(KeyedFactory, es_sqlite.SQLiteFactory):
    """eventsourcing's SQLite factory, with strongroom's keys and recorders."""

    aggregate_recorder_class = ShreddingSQLiteAggregateRecorder
    application_recorder_class = ShreddingSQLiteApplicationRecorder
    process_recorder_class = ShreddingSQLiteProcessRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        db_name = self.env.get(self.SQLITE_DBNAME) or ""
        own = _file_of(db_name)
        if own is None and not self.env.get("STRONGROOM_DATABASE_URL"):
            msg = (
                f"SQLITE_DBNAME={db_name!r} is not a database file: set "
                "STRONGROOM_DATABASE_URL to the store that keeps the keys"
            )
            raise OSError(msg)

        def is_own(store: Mapping[str, str]) -> bool:
            return own is not None and (
                store.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite"
                and _file_of(store.get("SQLITE_DBNAME") or "") == own
            )

        self.open_keys(None if own is None else "sqlite:///" + own, is_own=is_own)


def _file_of(db_name: str) -> str | None:
    """The real path of a database file; None for in-memory or URI names."""
    if not db_name or db_name == ":memory:" or db_name.startswith("file:"):
        return None
    return os.path.realpath(db_name)
