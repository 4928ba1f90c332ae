"""``PERSISTENCE_MODULE=strongroom.shredding.postgres``: eventsourcing's PostgreSQL
persistence, with every aggregate sealed under its own strongroom key.

Takes eventsourcing's ``POSTGRES_*`` settings unchanged. The keys live in the
application's own database unless ``STRONGROOM_DATABASE_URL`` names another one;
in its own database a new aggregate's key commits with its first events, and a
``repository.get`` reads the events and their key in one query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import product
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import eventsourcing.postgres as es_postgres
import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composable, Identifier

from strongroom.infrastructure.recorders import KeyRow, PostgresKeyStoreRecorder
from strongroom.infrastructure.recorders.postgres_sql import KEYS_DESTROYED
from strongroom.shredding.keys import KeyedEvent
from strongroom.shredding.persistence import (
    KeyedAggregateRecorder,
    KeyedApplicationRecorder,
    KeyedFactory,
)

if TYPE_CHECKING:
    from uuid import UUID

    from eventsourcing.persistence import StoredEvent
    from eventsourcing.utils import Environment, EnvType

__all__ = [
    "ShreddingPostgresAggregateRecorder",
    "ShreddingPostgresApplicationRecorder",
    "ShreddingPostgresFactory",
    "ShreddingPostgresProcessRecorder",
]


class _JoinedReads(KeyedAggregateRecorder):
    """Reads an aggregate's events and its key in one query (same database)."""

    datastore: es_postgres.PostgresDatastore
    events_table_name: str
    _joined: dict[tuple[bool, ...], bytes] | None = None
    """The joined statement per shape, once the key table is known to be here."""

    def join_keys_table(self, keys: Composable) -> None:
        """Read each aggregate's key row from ``keys`` in the query of its events.

        Every shape of ``select_events`` (gt, lte, desc, limit) is composed now.
        """
        source = SQL(
            "SELECT e.originator_version, e.topic, e.state, k.wrapped, k.kek "
            "FROM {} e LEFT JOIN {} k ON k.id = %s WHERE e.originator_id = %s"
        ).format(Identifier(self.datastore.schema, self.events_table_name), keys)
        self._joined = {}
        for gt, lte, desc, limit in product((False, True), repeat=4):
            query = source
            if gt:
                query += SQL(" AND e.originator_version > %s")
            if lte:
                query += SQL(" AND e.originator_version <= %s")
            query += SQL(" ORDER BY e.originator_version ")
            query += SQL("DESC") if desc else SQL("ASC")
            if limit:
                query += SQL(" LIMIT %s")
            self._joined[gt, lte, desc, limit] = query.as_bytes(None)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The aggregate's events, each with its wrapped data key."""
        if self._joined is None:
            return super().select_events(
                originator_id, gt=gt, lte=lte, desc=desc, limit=limit
            )
        params: list[Any] = [self.host_keys.key_id(originator_id), originator_id]
        params += [p for p in (gt, lte, limit) if p is not None]
        statement = self._joined[
            gt is not None, lte is not None, desc, limit is not None
        ]
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            curs.execute(statement, params, prepare=True)
            return [
                KeyedEvent(
                    originator_id=originator_id,
                    originator_version=version,
                    topic=topic,
                    state=bytes(state),
                    key=None if wrapped is None else KeyRow(bytes(wrapped), kek),
                )
                for version, topic, state, wrapped, kek in curs.fetchall()
            ]

    def keys_destroyed(self, exc: Exception) -> bool:
        """Whether the key-holding function found a data key destroyed."""
        cause = exc.__cause__
        return isinstance(cause, psycopg.Error) and cause.sqlstate == KEYS_DESTROYED


class ShreddingPostgresAggregateRecorder(
    _JoinedReads, es_postgres.PostgresAggregateRecorder
):
    """eventsourcing's aggregate recorder (snapshots), reading keys with events."""


class ShreddingPostgresApplicationRecorder(
    _JoinedReads, KeyedApplicationRecorder, es_postgres.PostgresApplicationRecorder
):
    """eventsourcing's application recorder, writing new keys with the events."""


class ShreddingPostgresProcessRecorder(
    _JoinedReads, KeyedApplicationRecorder, es_postgres.PostgresProcessRecorder
):
    """eventsourcing's process recorder, writing new keys with the events."""


class ShreddingPostgresFactory(KeyedFactory, es_postgres.PostgresFactory):
    """eventsourcing's PostgreSQL factory, with strongroom's keys and recorders."""

    aggregate_recorder_class = ShreddingPostgresAggregateRecorder
    application_recorder_class = ShreddingPostgresApplicationRecorder
    process_recorder_class = ShreddingPostgresProcessRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        self.open_keys(
            _own_url(self.env),
            is_own=self._is_own,
            # eventsourcing's database functions insert without the hook.
            within=not self.datastore.enable_db_functions,
        )

    def _is_own(self, store: Mapping[str, str]) -> bool:
        names = ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DBNAME")
        return store.get("PERSISTENCE_MODULE") == "eventsourcing.postgres" and all(
            (store.get(name) or "") == _setting(self.env, name) for name in names
        )

    def join_keys(self, recorder: KeyedAggregateRecorder) -> None:
        """Same database: read each aggregate's key in the query of its events."""
        store = self.host_keys.recorder
        if (
            self.same_database
            and isinstance(recorder, _JoinedReads)
            and isinstance(store, PostgresKeyStoreRecorder)
        ):
            recorder.join_keys_table(store.keys_table)


def _setting(env: Environment, name: str) -> str:
    defaults = {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432"}
    return env.get(name) or defaults.get(name, "")


def _own_url(env: Environment) -> str:
    """The application's database as a strongroom URL, from eventsourcing's settings."""
    user = quote(env.get("POSTGRES_USER") or "", safe="")
    password = env.get("POSTGRES_PASSWORD") or ""
    login = user + (":" + quote(password, safe="") if password else "")
    host = _setting(env, "POSTGRES_HOST")
    port = _setting(env, "POSTGRES_PORT")
    dbname = quote(_setting(env, "POSTGRES_DBNAME"), safe="")
    return f"postgresql://{login}@{host}:{port}/{dbname}"
