"""Event store wiring: an eventsourcing Application configured from a database URL."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, OperationalError
from eventsourcing.utils import Environment, EnvType
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier

from strongroom.domain.errors import StoreUnavailableError, ValidationError
from strongroom.domain.results import Status
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.stream import Head
from strongroom.infrastructure.keys import KeyRing
from strongroom.infrastructure.mapper import ShreddingMapper
from strongroom.infrastructure.master_key import MasterKeyProvider
from strongroom.infrastructure.recorders import (
    META_TABLE,
    HeadChange,
    PostgresKeyStoreRecorder,
)

ViewFactory = Callable[[Any], Any]
"""Makes a view (a tracking recorder) on the application's datastore."""

# pg_advisory_lock key: "strongroom schema", as a stable 63-bit number.
_SCHEMA_LOCK = 0x5354524F4E47524F

Backend = Literal["sqlite", "postgres"]

_RECORDERS = {
    "sqlite": "strongroom.infrastructure.recorders.sqlite:SQLiteKeyStoreRecorder",
    "postgres": "strongroom.infrastructure.recorders.postgres:PostgresKeyStoreRecorder",
}


_DEFAULT_LOCK_TIMEOUT = "30"


def _lock_timeout(rest: str) -> tuple[str, str]:
    """``rest`` without its ``lock_timeout`` parameter, and that timeout in seconds."""
    base, sep, query = rest.partition("?")
    params = parse_qsl(query, keep_blank_values=True)
    given = [value for key, value in params if key == "lock_timeout"]
    if not given:
        return rest, _DEFAULT_LOCK_TIMEOUT
    seconds = given[-1]
    if not (seconds.isascii() and seconds.isdigit() and 0 < int(seconds) <= 86_400):
        msg = "invalid database URL: lock_timeout must be whole seconds from 1 to 86400"
        raise ValidationError(msg)
    kept = [(key, value) for key, value in params if key != "lock_timeout"]
    return (base + sep + urlencode(kept) if kept else base), str(int(seconds))


def parse_url(url: str) -> tuple[Backend, dict[str, str]]:
    """The backend and the complete eventsourcing environment for a database URL.

    Every setting is given explicitly, so ambient ``POSTGRES_*``/``SQLITE_*``
    variables of the host process can never redirect strongroom. A
    ``lock_timeout=SECONDS`` query parameter (default 30) bounds lock waits.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        msg = "invalid database URL: expected sqlite:///PATH or postgresql://..."
        raise ValidationError(msg)
    # How long a write waits for another's lock before StoreBusyError.
    rest, lock_timeout = _lock_timeout(rest)
    if scheme == "sqlite":
        path = unquote(rest[1:] if rest.startswith("/") else rest).split("?", 1)[0]
        if not path:
            msg = "invalid database URL: sqlite:/// needs a file path"
            raise ValidationError(msg)
        _create_private_file(Path(path))
        return "sqlite", {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": lock_timeout,
            "APPLICATION_RECORDER_TOPIC": _RECORDERS["sqlite"],
            "CREATE_TABLE": "y",
        }
    if scheme in {"postgresql", "postgres"}:
        try:
            params = conninfo_to_dict("postgresql://" + rest)
        except Exception:  # noqa: BLE001 - any parse failure is a bad URL
            msg = "invalid database URL: not a PostgreSQL connection URI"
            raise ValidationError(msg) from None
        return "postgres", {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
            "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
            "POSTGRES_PORT": str(params.get("port") or "5432"),
            "POSTGRES_USER": str(params.get("user") or "postgres"),
            "POSTGRES_PASSWORD": str(params.get("password") or ""),
            "POSTGRES_SCHEMA": "public",
            # Also how long an operation waits for a pooled connection.
            "POSTGRES_CONNECT_TIMEOUT": str(params.get("connect_timeout") or "10"),
            "POSTGRES_LOCK_TIMEOUT": lock_timeout,
            "POSTGRES_POOL_SIZE": "2",
            "POSTGRES_MAX_OVERFLOW": "14",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "APPLICATION_RECORDER_TOPIC": _RECORDERS["postgres"],
            # Tables are created by create_tables(), under a lock (see there).
            "CREATE_TABLE": "n",
        }
    msg = f"invalid database URL: unsupported scheme {scheme!r}"
    raise ValidationError(msg)


def _create_private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only, if it does not exist.

    SQLite gives its -wal and -shm files the database file's mode, so they are
    private too. A missing directory is an error: a mistyped URL must not create
    a store somewhere unexpected (``sqlite:///x`` is relative to the current
    directory, ``sqlite:////x`` absolute).
    """
    if not path.parent.is_dir():
        msg = (
            f"invalid database URL: the directory {str(path.parent.absolute())!r} "
            "does not exist (sqlite:///PATH is relative, sqlite:////PATH absolute)"
        )
        raise ValidationError(msg)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


# libpq gives no SQLSTATE for a refused connection, so its message is matched;
# what the caller sees is only one of these, never the driver's text.
_REFUSALS = (
    ("does not exist", 'database "', "the database does not exist"),
    ("does not exist", 'role "', "the role does not exist"),
    ("authentication failed", "", "the role was refused (authentication failed)"),
    ("no pg_hba.conf entry", "", "the server refused this host or role"),
    ("connection refused", "", "the connection was refused (is it running?)"),
    ("timeout expired", "", "no answer within the connect timeout"),
)


def _refusal(exc: Exception) -> str:
    text = str(exc).lower()
    for marker, also, reason in _REFUSALS:
        if marker in text and also in text:
            return reason
    return "the connection failed"


def probe_postgres(env: EnvType) -> None:
    """Fail at once, naming host and port, when PostgreSQL cannot be used.

    Without this, a refused connection, an unknown database or a bad role would
    surface only as a pool timeout, later, and look like a busy database.
    """
    host, port = env["POSTGRES_HOST"], env["POSTGRES_PORT"]
    try:
        psycopg.connect(
            host=host,
            port=port,
            dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            connect_timeout=env["POSTGRES_CONNECT_TIMEOUT"],
        ).close()
    except psycopg.OperationalError as exc:
        reason = _refusal(exc)
        msg = (
            f"cannot open the store: PostgreSQL at {host}:{port} "
            f"(database {env['POSTGRES_DBNAME']!r}, role {env['POSTGRES_USER']!r}): "
            f"{reason}"
        )
        raise StoreUnavailableError(msg) from None


SCHEMA_VERSION = b"8"
"""Bumped when the DDL gains a part (7: the key-holding function host recorders
call; 8: the listing's lifecycle columns), so a store marked with an older
version runs its idempotent DDL once more."""
_OPEN_ATTEMPTS = 5


def _mark(part: object) -> str:
    return f"schema:{type(part).__module__}.{type(part).__qualname__}"


def _schema_marks(conn: Any, schema: str) -> set[str]:
    meta = f"{schema}.{META_TABLE}"
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL AS present", (meta,)
    ).fetchone()
    if not _first(row):
        return set()
    rows = conn.execute(
        SQL("SELECT name FROM {}.{} WHERE name LIKE 'schema:%%' AND value = %s").format(
            Identifier(schema), Identifier(META_TABLE)
        ),
        (SCHEMA_VERSION,),
    ).fetchall()
    return {_first(row) for row in rows}


def _first(row: Any) -> Any:
    # eventsourcing's pool hands out connections with dict rows.
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def _set_marks(conn: Any, schema: str, marks: Sequence[str]) -> None:
    statement = SQL(
        "INSERT INTO {}.{} (name, value) VALUES (%s, %s) "
        "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value"
    ).format(Identifier(schema), Identifier(META_TABLE))
    for mark in marks:
        conn.execute(statement, (mark, SCHEMA_VERSION))


class StrongroomApplication(Application[UUID]):
    """The event-sourced application behind a SecretsManager."""

    name = "strongroom"

    def __init__(
        self,
        env: EnvType,
        *,
        master_key: MasterKeyProvider,
        previous_master_keys: Sequence[MasterKeyProvider] = (),
        views: Sequence[ViewFactory] = (),
    ) -> None:
        if dict(env).get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
            probe_postgres(env)
        for attempt in range(_OPEN_ATTEMPTS):
            try:
                super().__init__(env)
                break
            except (sqlite3.OperationalError, OperationalError) as exc:
                # Openers racing on a fresh SQLite file: the loser of the switch to
                # WAL is told "database is locked" at once (no busy wait there).
                if (
                    "database is locked" not in str(exc)
                    or attempt == _OPEN_ATTEMPTS - 1
                ):
                    raise
                factory = getattr(self, "factory", None)
                if factory is not None:
                    factory.close()
                time.sleep(0.05 * (attempt + 1))
        try:
            self.views = self.create_tables(views)
            self.keys = KeyRing(
                master_key,
                self.recorder,  # type: ignore[arg-type]
                previous=previous_master_keys,
            )
        except BaseException:
            self.close()
            raise
        self.shredding_mapper.keys = self.keys

    def create_tables(self, views: Sequence[ViewFactory]) -> list[Any]:
        """Create the recorder's and the views' tables, once, whoever opens first.

        Concurrent ``CREATE TYPE``/``CREATE TABLE IF NOT EXISTS`` in PostgreSQL can
        fail with a unique violation in the catalog, so openers take turns under a
        session advisory lock.
        """
        if not isinstance(self.recorder, PostgresKeyStoreRecorder):
            made = [make(self.datastore) for make in views]
            for view in made:
                try:
                    view.create_table()
                except IntegrityError:
                    # eventsourcing's SQLite tracking table records its migration
                    # after checking for it outside the transaction: a concurrent
                    # opener won that race, and a second look finds its record.
                    view.create_table()
            return made
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
            try:
                # DDL on an existing store takes table locks that can deadlock with
                # concurrent writers, so each part is created once and marked done.
                done = _schema_marks(conn, self.datastore.schema)
                if _mark(self.recorder) not in done:
                    self.recorder.create_table()
                made = [make(self.datastore) for make in views]
                for view in made:
                    if _mark(view) not in done:
                        view.create_table()
                _set_marks(
                    conn,
                    self.datastore.schema,
                    [_mark(part) for part in (self.recorder, *made)],
                )
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))
        # The recorder looked up its composite type when constructed, perhaps before
        # another opener had created it; create_table() would look again, so when
        # it is skipped, look here.
        self.datastore.register_type_adapters()
        return made

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{self.factory.__class__.__name__}>)"

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]:  # type: ignore[override]
        """Put the pending events of aggregates (and given events) in the event store.

        Every Secret saved gets its head replaced (or deleted with its data key) in
        the same transaction. The base class checks each object against runtime
        protocols and looks for snapshots to take; those checks were a tenth of the
        cost of a create, and strongroom's only snapshots are these heads.
        """
        events: list[Any] = []
        heads: list[HeadChange] = []
        for obj in objs:
            if isinstance(obj, SecretAggregate):
                heads.append(self._head(obj))
            if isinstance(obj, Aggregate):
                events.extend(obj.collect_events())
            elif obj is not None:
                events.append(obj)
        if heads:
            kwargs["heads"] = heads
        return self.events.put(events, **kwargs)

    def _head(self, secret: SecretAggregate) -> HeadChange:
        if secret.status is Status.DELETED:
            return HeadChange(secret.id)
        # Sealed by the mapper under the secret's data key, like its events.
        return HeadChange(
            secret.id, secret.version, self.shredding_mapper.seal_head(Head.of(secret))
        )

    def close(self) -> None:
        """Close the recorder's own connections, then the datastore's."""
        close = getattr(self.recorder, "close", None)
        if close is not None:
            close()
        super().close()

    @property
    def shredding_mapper(self) -> ShreddingMapper:
        """The application's mapper."""
        assert isinstance(self.mapper, ShreddingMapper)
        return self.mapper

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only the given settings: never the process environment."""
        return Environment(name, dict(env or {}))

    def construct_mapper(self) -> ShreddingMapper:  # type: ignore[override]
        """The shredding mapper (its key ring is attached once the recorder exists)."""
        return ShreddingMapper(transcoder=self.construct_transcoder())

    @property
    def datastore(self) -> Any:
        """The backend datastore shared by the recorder and the views."""
        return self.factory.datastore  # type: ignore[attr-defined]
