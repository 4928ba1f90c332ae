"""SQLite storage of the secrets projection (listing, counters, audit index).

Times are stored as UTC ISO-8601 text of fixed width, so text order is time order.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteTrackingRecorder

from strongroom.projections.rows import (
    AuditFilter,
    AuditRow,
    Counts,
    ListFilter,
    Row,
    expiring,
)
from strongroom.projections.secrets import SecretsView
from strongroom.projections.sqlite_schema import CREATE, upgrade

_COLUMNS = (
    "id, ns_key, namespace, name, version, status, created_at, created_by,"
    " updated_at, updated_by, description, token_type, allowed_apps, envs,"
    " expires_at, tags, deletion_date, rotation_interval, last_rotated_at,"
    " next_rotation_at"
)


def _time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # Fixed width (years zero-padded, always microseconds) so text order is time
    # order; strftime("%Y") does not pad years before 1000.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _row(record: sqlite3.Row) -> Row:
    created_at = _parse(record["created_at"])
    updated_at = _parse(record["updated_at"])
    assert created_at is not None
    assert updated_at is not None
    return Row(
        id=UUID(record["id"]),
        name=record["name"],
        namespace=record["namespace"],
        version=record["version"],
        status=record["status"],
        created_at=created_at,
        created_by=record["created_by"],
        updated_at=updated_at,
        updated_by=record["updated_by"],
        description=record["description"],
        token_type=record["token_type"],
        allowed_apps=json.loads(record["allowed_apps"]),
        envs=json.loads(record["envs"]),
        expires_at=_parse(record["expires_at"]),
        tags=json.loads(record["tags"]),
        deletion_date=_parse(record["deletion_date"]),
        rotation_interval=record["rotation_interval"],
        last_rotated_at=_parse(record["last_rotated_at"]),
        next_rotation_at=_parse(record["next_rotation_at"]),
    )


class _Transaction:
    def __init__(self, cursor: SQLiteCursor) -> None:
        self._c = cursor

    def get_row(self, secret_id: UUID) -> Row | None:
        self._c.execute(
            f"SELECT {_COLUMNS} FROM strongroom_listing WHERE id = ?",
            (secret_id.hex,),
        )
        record = self._c.fetchone()
        return None if record is None else _row(record)

    def bump(self, ns_key: str, status: str, delta: int) -> None:
        self._c.execute(
            "INSERT INTO strongroom_counts (ns_key, status, n) VALUES (?, ?, ?)"
            " ON CONFLICT (ns_key, status) DO UPDATE SET n = n + excluded.n",
            (ns_key, str(status), delta),
        )

    def put_rows(self, rows: Sequence[Row]) -> None:
        self._c.executemany(
            f"INSERT OR REPLACE INTO strongroom_listing ({_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    row.id.hex,
                    row.ns_key,
                    row.namespace,
                    row.name,
                    row.version,
                    str(row.status),
                    _time(row.created_at),
                    row.created_by,
                    _time(row.updated_at),
                    row.updated_by,
                    row.description,
                    row.token_type,
                    json.dumps(list(row.allowed_apps)),
                    json.dumps(list(row.envs)),
                    _time(row.expires_at),
                    json.dumps(row.tags),
                    _time(row.deletion_date),
                    row.rotation_interval,
                    _time(row.last_rotated_at),
                    _time(row.next_rotation_at),
                )
                for row in rows
            ],
        )

        self._c.executemany(
            "DELETE FROM strongroom_expiry WHERE id = ?",
            [(row.id.hex,) for row in rows],
        )
        self._c.executemany(
            "INSERT INTO strongroom_expiry (id, ns_key, expires_at) VALUES (?, ?, ?)",
            [(row_id.hex, ns_key, _time(at)) for row_id, ns_key, at in expiring(rows)],
        )

    def add_audits(self, rows: Sequence[AuditRow]) -> None:
        self._c.executemany(
            "INSERT INTO strongroom_audit (position, secret_id, action, actor, at, version)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (r.position, r.secret_id.hex, r.action, r.actor, _time(r.at), r.version)
                for r in rows
            ],
        )

    def add_names(self, names: Sequence[tuple[UUID, str, str | None]]) -> None:
        self._c.executemany(
            "INSERT OR IGNORE INTO strongroom_names (secret_id, name, namespace)"
            " VALUES (?, ?, ?)",
            [(secret_id.hex, name, namespace) for secret_id, name, namespace in names],
        )


class SQLiteSecretsView(SQLiteTrackingRecorder, SecretsView):
    """Listing rows, status counters and the audit index in SQLite."""

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)

    def construct_create_table_statements(self) -> list[str]:
        """The tracking table and the read models."""
        return [*super().construct_create_table_statements(), *CREATE]

    def create_table(self) -> None:
        """Make the tables, then bring a store made earlier up to them."""
        super().create_table()
        upgrade(self.datastore)

    @contextmanager
    def batch(self, tracking: Tracking, first_id: int) -> Iterator[_Transaction]:
        """Claim the batch first (a write takes SQLite's lock), then write the rest."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "INSERT INTO tracking (application_name, notification_id) VALUES (?, ?)"
                " ON CONFLICT (application_name) DO UPDATE"
                " SET notification_id = excluded.notification_id"
                " WHERE tracking.notification_id < ? RETURNING notification_id",
                (tracking.application_name, tracking.notification_id, first_id),
            )
            if c.fetchone() is None:
                msg = "another process already projected these events"
                raise IntegrityError(msg)
            yield _Transaction(c)

    def list_rows(
        self, filters: ListFilter, after: tuple[str, str] | None, limit: int
    ) -> list[Row]:
        """Rows in ``(namespace NULLS FIRST, name)`` order after a keyset cursor."""
        clauses: list[str] = []
        params: list[Any] = []
        if filters.status is None:
            clauses.append("status <> 'deleted'")
        else:
            clauses.append("status = ?")
            params.append(filters.status)
        if filters.namespace is not None:
            clauses.append("ns_key = ?")
            params.append(filters.namespace)
        if filters.scope == "global":
            clauses.append("ns_key = ''")
        elif filters.scope == "namespace":
            clauses.append("ns_key <> ''")
        if filters.prefix:
            clauses.append("substr(name, 1, ?) = ?")
            params += [len(filters.prefix), filters.prefix]
        if filters.app is not None:
            clauses.append(
                "EXISTS (SELECT 1 FROM json_each(allowed_apps) WHERE value = ?)"
            )
            params.append(filters.app)
        if filters.env is not None:
            clauses.append("EXISTS (SELECT 1 FROM json_each(envs) WHERE value = ?)")
            params.append(filters.env)
        if filters.tag is not None:
            clauses.append(
                "EXISTS (SELECT 1 FROM json_each(tags) WHERE key = ? AND value = ?)"
            )
            params += list(filters.tag)
        if filters.rotation_due is not None:
            clauses.append("next_rotation_at <= ? AND status <> 'pending_deletion'")
            params.append(_time(filters.rotation_due))
        if after is not None:
            clauses.append("(ns_key, name) > (?, ?)")
            params += list(after)
        params.append(limit)
        query = (
            f"SELECT {_COLUMNS} FROM strongroom_listing WHERE "
            + " AND ".join(clauses)
            + " ORDER BY ns_key, name LIMIT ?"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(query, params)
            return [_row(record) for record in c.fetchall()]

    def counts(self, namespace: str | None, now: datetime, soon: datetime) -> Counts:
        """Counters and expiry counts (of one namespace, or of the whole store)."""
        by_status: dict[str, int] = {}
        by_namespace: dict[str, int] = {}
        expiry = (
            "SELECT count(CASE WHEN expires_at <= ? THEN 1 END) AS expired,"
            " count(CASE WHEN expires_at > ? AND expires_at <= ? THEN 1 END) AS soon"
            " FROM strongroom_expiry WHERE true"
        )
        params: list[Any] = [_time(now), _time(now), _time(soon)]
        if namespace is not None:
            expiry += " AND ns_key = ?"
            params.append(namespace)
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT ns_key, status, n FROM strongroom_counts WHERE n <> 0")
            for ns_key, status, n in c.fetchall():
                if namespace is not None and ns_key != namespace:
                    continue
                by_status[status] = by_status.get(status, 0) + n
                if ns_key and status != "deleted":
                    by_namespace[ns_key] = by_namespace.get(ns_key, 0) + n
            c.execute(expiry, params)
            expired, expiring = c.fetchone()
            rotation = (
                "SELECT count(*) FROM strongroom_listing WHERE next_rotation_at <= ?"
                " AND status IN ('active', 'revoked')"
            )
            rotation_params: list[Any] = [_time(now)]
            if namespace is not None:
                rotation += " AND ns_key = ?"
                rotation_params.append(namespace)
            c.execute(rotation, rotation_params)
            (due,) = c.fetchone()
        return Counts(by_status, by_namespace, expired, expiring, due)

    def due_deletions(self, now: datetime, limit: int) -> list[UUID]:
        """Secrets pending deletion whose deletion date is ``now`` or earlier."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT id FROM strongroom_listing WHERE deletion_date <= ?"
                " AND status = 'pending_deletion' ORDER BY deletion_date LIMIT ?",
                (_time(now), limit),
            )
            return [UUID(row_id) for (row_id,) in c.fetchall()]

    def audit_rows(
        self, filters: AuditFilter, after: int, limit: int
    ) -> list[tuple[AuditRow, str | None, str | None]]:
        """Audit rows with their secret's name and namespace, in log order."""
        query = (
            "SELECT a.position, a.secret_id, a.action, a.actor, a.at, a.version,"
            " n.name, n.namespace FROM strongroom_audit AS a"
            " LEFT JOIN strongroom_names AS n ON n.secret_id = a.secret_id"
            " WHERE a.position > ?"
        )
        params: list[Any] = [after]
        for clause, value in (
            (" AND a.at >= ?", _time(filters.since)),
            (" AND a.at <= ?", _time(filters.until)),
            (" AND a.actor = ?", filters.actor),
            (" AND n.namespace = ?", filters.namespace),
            (" AND a.action = ?", filters.action),
            (
                " AND a.secret_id = ?",
                filters.secret_id.hex if filters.secret_id else None,
            ),
            # instr finds the first occurrence: 1 exactly when the name starts so.
            (" AND instr(n.name, ?) = 1", filters.prefix),
            (" AND a.action <> ?", "revealed" if filters.changes_only else None),
        ):
            if value is not None:
                query += clause
                params.append(value)
        query += " ORDER BY a.position LIMIT ?"
        params.append(limit)
        with self.datastore.transaction(commit=False) as c:
            c.execute(query, params)
            rows = []
            for r in c.fetchall():
                at = _parse(r["at"])
                assert at is not None
                rows.append(
                    (
                        AuditRow(
                            position=r["position"],
                            secret_id=UUID(r["secret_id"]),
                            action=r["action"],
                            actor=r["actor"],
                            at=at,
                            version=r["version"],
                        ),
                        r["name"],
                        r["namespace"],
                    )
                )
            return rows

    def reset(self, application_name: str) -> None:
        """Empty every read model and the tracking record, in one transaction."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "DELETE FROM tracking WHERE application_name = ?", (application_name,)
            )
            for table in (
                "strongroom_listing",
                "strongroom_counts",
                "strongroom_audit",
                "strongroom_names",
                "strongroom_expiry",
            ):
                c.execute(f"DELETE FROM {table}")
