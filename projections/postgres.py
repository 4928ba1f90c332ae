"""PostgreSQL storage of the secrets projection (listing, counters, audit index)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Composed, Identifier
from psycopg.types.json import Jsonb

from strongroom.projections.postgres_schema import (
    AUDIT,
    COUNTS,
    EXPIRY,
    LISTING,
    NAMES,
    ROW_COLUMNS,
    TRACKING,
    create_statements,
    params_of,
    row_of,
)
from strongroom.projections.rows import (
    AuditFilter,
    AuditRow,
    Counts,
    ListFilter,
    Row,
    expiring,
)
from strongroom.projections.secrets import SecretsView


class _Transaction:
    def __init__(self, view: PostgresSecretsView, curs: Cursor[DictRow]) -> None:
        self._view = view
        self._curs = curs

    def get_row(self, secret_id: UUID) -> Row | None:
        self._curs.execute(self._view.select_row, (secret_id,), prepare=True)
        record = self._curs.fetchone()
        return None if record is None else row_of(record)

    def bump(self, ns_key: str, status: str, delta: int) -> None:
        self._curs.execute(
            self._view.bump_count, (ns_key, str(status), delta), prepare=True
        )

    def put_rows(self, rows: Sequence[Row]) -> None:
        self._curs.executemany(self._view.upsert_row, [params_of(row) for row in rows])
        self._curs.execute(self._view.delete_expiry, ([row.id for row in rows],))
        if entries := expiring(rows):
            self._curs.executemany(self._view.insert_expiry, entries)

    def add_audits(self, rows: Sequence[AuditRow]) -> None:
        # The audit index only grows: COPY streams a batch at a fraction of the
        # cost of one INSERT per row.
        with self._curs.copy(self._view.copy_audit) as copy:
            for r in rows:
                copy.write_row(
                    (r.position, r.secret_id, r.action, r.actor, r.at, r.version)
                )

    def add_names(self, names: Sequence[tuple[UUID, str, str | None]]) -> None:
        self._curs.executemany(self._view.insert_name, names)


class PostgresSecretsView(PostgresTrackingRecorder, SecretsView):
    """Listing rows, status counters and the audit index in PostgreSQL."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=TRACKING, **kwargs)
        schema = Identifier(self.datastore.schema)
        listing, counts = Identifier(LISTING), Identifier(COUNTS)
        audit, names = Identifier(AUDIT), Identifier(NAMES)
        tracking = Identifier(TRACKING)
        self.sql_create_statements.extend(create_statements(self.datastore.schema))
        columns = SQL(", ").join(Identifier(c) for c in ROW_COLUMNS)
        self.select_row = SQL("SELECT {} FROM {}.{} WHERE id = %s").format(
            columns, schema, listing
        )
        self.upsert_row = SQL(
            "INSERT INTO {}.{} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET ({}) = ({})"
        ).format(
            schema,
            listing,
            columns,
            SQL(", ").join(SQL("%s") for _ in ROW_COLUMNS),
            columns,
            SQL(", ").join(
                SQL("EXCLUDED.{}").format(Identifier(c)) for c in ROW_COLUMNS
            ),
        )
        self.bump_count = SQL(
            "INSERT INTO {0}.{1} (ns_key, status, n) VALUES (%s, %s, %s)"
            " ON CONFLICT (ns_key, status) DO UPDATE SET n = {0}.{1}.n + EXCLUDED.n"
        ).format(schema, counts)
        self.copy_audit = SQL(
            "COPY {}.{} (position, secret_id, action, actor, at, version) FROM STDIN"
        ).format(schema, audit)
        self.insert_name = SQL(
            "INSERT INTO {}.{} (secret_id, name, namespace) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING"
        ).format(schema, names)
        self.claim = SQL(
            "INSERT INTO {0}.{1} (application_name, notification_id) VALUES (%s, %s)"
            " ON CONFLICT (application_name) DO UPDATE"
            " SET notification_id = EXCLUDED.notification_id"
            " WHERE {0}.{1}.notification_id < %s RETURNING notification_id"
        ).format(schema, tracking)
        self.select_rows = SQL("SELECT {} FROM {}.{} WHERE ").format(
            columns, schema, listing
        )
        self.select_counts = SQL(
            "SELECT ns_key, status, n FROM {}.{} WHERE n <> 0"
        ).format(schema, counts)
        self.select_expiry = SQL(
            "SELECT count(*) FILTER (WHERE expires_at <= %s) AS expired,"
            " count(*) FILTER (WHERE expires_at > %s AND expires_at <= %s) AS soon"
            " FROM {}.{} WHERE true"
        ).format(schema, Identifier(EXPIRY))
        self.select_rotation_due = SQL(
            "SELECT count(*) AS n FROM {}.{} WHERE next_rotation_at <= %s"
            " AND status IN ('active', 'revoked')"
        ).format(schema, listing)
        self.select_due_deletions = SQL(
            "SELECT id FROM {}.{} WHERE deletion_date <= %s"
            " AND status = 'pending_deletion' ORDER BY deletion_date LIMIT %s"
        ).format(schema, listing)
        self.delete_expiry = SQL("DELETE FROM {}.{} WHERE id = ANY(%s)").format(
            schema, Identifier(EXPIRY)
        )
        self.insert_expiry = SQL(
            "INSERT INTO {}.{} (id, ns_key, expires_at) VALUES (%s, %s, %s)"
        ).format(schema, Identifier(EXPIRY))
        self.select_audit = SQL(
            "SELECT a.position, a.secret_id, a.action, a.actor, a.at, a.version,"
            " n.name, n.namespace FROM {0}.{1} AS a LEFT JOIN {0}.{2} AS n"
            " ON n.secret_id = a.secret_id WHERE a.position > %s"
        ).format(schema, audit, names)
        # TRUNCATE, not DELETE: a rebuild then writes into empty tables and indexes
        # instead of ones bloated with a million dead rows (a third of the speed).
        self.reset_statements = [
            SQL("TRUNCATE ")
            + SQL(", ").join(
                SQL("{}.{}").format(schema, Identifier(table))
                for table in (LISTING, COUNTS, AUDIT, NAMES, EXPIRY)
            )
        ]
        self.delete_tracking = SQL(
            "DELETE FROM {}.{} WHERE application_name = %s"
        ).format(schema, tracking)
        # Composed once: composing a statement on every execute cost more than running it.
        for name in (
            "select_row",
            "upsert_row",
            "bump_count",
            "insert_name",
            "claim",
            "delete_expiry",
            "insert_expiry",
        ):
            setattr(self, name, getattr(self, name).as_bytes(None))

    @contextmanager
    def batch(self, tracking: Tracking, first_id: int) -> Iterator[_Transaction]:
        """Claim the batch first (row lock on tracking), then write the read models."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                self.claim,
                (tracking.application_name, tracking.notification_id, first_id),
                prepare=True,
            )
            if curs.fetchone() is None:
                msg = "another process already projected these events"
                raise IntegrityError(msg)
            yield _Transaction(self, curs)

    def list_rows(
        self, filters: ListFilter, after: tuple[str, str] | None, limit: int
    ) -> list[Row]:
        """Rows in ``(namespace NULLS FIRST, name)`` order after a keyset cursor."""
        clauses: list[Composable] = []
        params: list[Any] = []
        if filters.status is None:
            clauses.append(SQL("status <> 'deleted'"))
        else:
            clauses.append(SQL("status = %s"))
            params.append(filters.status)
        if filters.namespace is not None:
            clauses.append(SQL("ns_key = %s"))
            params.append(filters.namespace)
        if filters.scope == "global":
            clauses.append(SQL("ns_key = ''"))
        elif filters.scope == "namespace":
            clauses.append(SQL("ns_key <> ''"))
        if filters.prefix:
            clauses.append(SQL("left(name, %s) = %s"))
            params += [len(filters.prefix), filters.prefix]
        if filters.app is not None:
            clauses.append(SQL("%s = ANY(allowed_apps)"))
            params.append(filters.app)
        if filters.env is not None:
            clauses.append(SQL("%s = ANY(envs)"))
            params.append(filters.env)
        if filters.tag is not None:
            clauses.append(SQL("tags @> %s"))
            params.append(Jsonb({filters.tag[0]: filters.tag[1]}))
        if filters.rotation_due is not None:
            clauses.append(
                SQL("next_rotation_at <= %s AND status <> 'pending_deletion'")
            )
            params.append(filters.rotation_due)
        if after is not None:
            clauses.append(SQL("(ns_key, name) > (%s, %s)"))
            params += list(after)
        query = (
            self.select_rows
            + SQL(" AND ").join(clauses)
            + SQL(" ORDER BY ns_key, name LIMIT %s")
        )
        params.append(limit)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, params, prepare=True)
            return [row_of(record) for record in curs.fetchall()]

    def counts(self, namespace: str | None, now: datetime, soon: datetime) -> Counts:
        """Counters and expiry counts (of one namespace, or of the whole store)."""
        by_status: dict[str, int] = {}
        by_namespace: dict[str, int] = {}
        expiry = self.select_expiry
        params: list[Any] = [now, now, soon]
        if namespace is not None:
            expiry = expiry + SQL(" AND ns_key = %s")
            params.append(namespace)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_counts, prepare=True)
            for record in curs.fetchall():
                ns_key, status, n = record["ns_key"], record["status"], record["n"]
                if namespace is not None and ns_key != namespace:
                    continue
                by_status[status] = by_status.get(status, 0) + n
                if ns_key and status != "deleted":
                    by_namespace[ns_key] = by_namespace.get(ns_key, 0) + n
            curs.execute(expiry, params, prepare=True)
            found = curs.fetchone()
            rotation = self.select_rotation_due
            rotation_params: list[Any] = [now]
            if namespace is not None:
                rotation = rotation + SQL(" AND ns_key = %s")
                rotation_params.append(namespace)
            curs.execute(rotation, rotation_params, prepare=True)
            due = curs.fetchone()
        assert found is not None
        assert due is not None
        return Counts(
            by_status, by_namespace, found["expired"], found["soon"], due["n"]
        )

    def due_deletions(self, now: datetime, limit: int) -> list[UUID]:
        """Secrets pending deletion whose deletion date is ``now`` or earlier."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_due_deletions, (now, limit), prepare=True)
            return [record["id"] for record in curs.fetchall()]

    def audit_rows(
        self, filters: AuditFilter, after: int, limit: int
    ) -> list[tuple[AuditRow, str | None, str | None]]:
        """Audit rows with their secret's name and namespace, in log order."""
        query = self.select_audit
        params: list[Any] = [after]
        for column, value, op in (
            ("a.at", filters.since, ">="),
            ("a.at", filters.until, "<="),
            ("a.actor", filters.actor, "="),
            ("n.namespace", filters.namespace, "="),
            ("a.action", filters.action, "="),
            ("a.secret_id", filters.secret_id, "="),
            ("n.name", filters.prefix, "^@"),
            ("a.action", "revealed" if filters.changes_only else None, "<>"),
        ):
            if value is not None:
                query += SQL(" AND {} {} %s").format(SQL(column), SQL(op))
                params.append(value)
        query += SQL(" ORDER BY a.position LIMIT %s")
        params.append(limit)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, params, prepare=True)
            return [
                (
                    AuditRow(
                        position=r["position"],
                        secret_id=r["secret_id"],
                        action=r["action"],
                        actor=r["actor"],
                        at=r["at"],
                        version=r["version"],
                    ),
                    r["name"],
                    r["namespace"],
                )
                for r in curs.fetchall()
            ]

    def reset(self, application_name: str) -> None:
        """Empty every read model and the tracking record, in one transaction."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self.claim_all_lock)
            for statement in self.reset_statements:
                curs.execute(statement)
            curs.execute(self.delete_tracking, (application_name,))

    @property
    def claim_all_lock(self) -> Composed:
        """Lock the read models so no batch interleaves with a reset."""
        return SQL("LOCK TABLE {}.{}, {}.{} IN EXCLUSIVE MODE").format(
            Identifier(self.datastore.schema),
            Identifier(TRACKING),
            Identifier(self.datastore.schema),
            Identifier(LISTING),
        )
