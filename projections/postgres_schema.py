"""The PostgreSQL tables of the secrets projection and how a listing row maps to
and from their columns (the queries are ``postgres.py``'s)."""

from __future__ import annotations

from typing import Any

from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier, Literal
from psycopg.types.json import Jsonb

from strongroom.projections.rows import Row

LISTING = "strongroom_listing"
COUNTS = "strongroom_counts"
AUDIT = "strongroom_audit"
NAMES = "strongroom_names"
EXPIRY = "strongroom_expiry"
TRACKING = "strongroom_tracking"

ROW_COLUMNS = (
    "id",
    "ns_key",
    "namespace",
    "name",
    "version",
    "status",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "description",
    "token_type",
    "allowed_apps",
    "envs",
    "expires_at",
    "tags",
    "deletion_date",
    "rotation_interval",
    "last_rotated_at",
    "next_rotation_at",
)


def row_of(record: DictRow) -> Row:
    """The listing row a selected record holds."""
    return Row(
        id=record["id"],
        name=record["name"],
        namespace=record["namespace"],
        version=record["version"],
        status=record["status"],
        created_at=record["created_at"],
        created_by=record["created_by"],
        updated_at=record["updated_at"],
        updated_by=record["updated_by"],
        description=record["description"],
        token_type=record["token_type"],
        allowed_apps=list(record["allowed_apps"]),
        envs=list(record["envs"]),
        expires_at=record["expires_at"],
        tags=dict(record["tags"]),
        deletion_date=record["deletion_date"],
        rotation_interval=record["rotation_interval"],
        last_rotated_at=record["last_rotated_at"],
        next_rotation_at=record["next_rotation_at"],
    )


def params_of(row: Row) -> tuple[Any, ...]:
    """A listing row's column values, in ``ROW_COLUMNS`` order."""
    return (
        row.id,
        row.ns_key,
        row.namespace,
        row.name,
        row.version,
        str(row.status),
        row.created_at,
        row.created_by,
        row.updated_at,
        row.updated_by,
        row.description,
        row.token_type,
        list(row.allowed_apps),
        list(row.envs),
        row.expires_at,
        Jsonb(row.tags),
        row.deletion_date,
        row.rotation_interval,
        row.last_rotated_at,
        row.next_rotation_at,
    )


# Columns added after the listing table was first made: stores made before them
# get them on open (only when missing: ALTER takes a lock even when it does nothing).
_LATER_COLUMNS = (
    ("deletion_date", "timestamptz"),
    ("rotation_interval", "integer"),
    ("last_rotated_at", "timestamptz"),
    ("next_rotation_at", "timestamptz"),
)


def create_statements(schema_name: str) -> list[Composed]:
    """The statements that make the projection's tables and indexes (idempotent)."""
    names = {
        "schema": Identifier(schema_name),
        "listing": Identifier(LISTING),
        "counts": Identifier(COUNTS),
        "audit": Identifier(AUDIT),
        "names": Identifier(NAMES),
        "expiry": Identifier(EXPIRY),
    }
    statements = [
        SQL(statement).format(**names)
        for statement in (
            "CREATE TABLE IF NOT EXISTS {schema}.{listing} ("
            " id uuid PRIMARY KEY,"
            ' ns_key text COLLATE "C" NOT NULL,'
            " namespace text,"
            ' name text COLLATE "C" NOT NULL,'
            " version integer NOT NULL,"
            " status text NOT NULL,"
            " created_at timestamptz NOT NULL,"
            " created_by text,"
            " updated_at timestamptz NOT NULL,"
            " updated_by text,"
            " description text,"
            " token_type text,"
            " allowed_apps text[] NOT NULL,"
            " envs text[] NOT NULL,"
            " expires_at timestamptz,"
            " tags jsonb NOT NULL,"
            " deletion_date timestamptz,"
            " rotation_interval integer,"
            " last_rotated_at timestamptz,"
            " next_rotation_at timestamptz)",
            "CREATE INDEX IF NOT EXISTS strongroom_listing_order"
            " ON {schema}.{listing} (ns_key, name)",
            "CREATE TABLE IF NOT EXISTS {schema}.{expiry} ("
            " id uuid PRIMARY KEY, ns_key text NOT NULL,"
            " expires_at timestamptz NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {schema}.{counts} ("
            " ns_key text NOT NULL, status text NOT NULL, n bigint NOT NULL,"
            " PRIMARY KEY (ns_key, status))",
            "CREATE TABLE IF NOT EXISTS {schema}.{audit} ("
            " position bigint PRIMARY KEY, secret_id uuid NOT NULL,"
            " action text NOT NULL, actor text, at timestamptz NOT NULL,"
            " version integer)",
            "CREATE INDEX IF NOT EXISTS strongroom_audit_secret"
            " ON {schema}.{audit} (secret_id, position)",
            "CREATE TABLE IF NOT EXISTS {schema}.{names} ("
            " secret_id uuid PRIMARY KEY, name text NOT NULL, namespace text)",
        )
    ]
    for column, kind in _LATER_COLUMNS:
        statements.append(
            SQL(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM information_schema.columns"
                " WHERE table_schema = {schema_text} AND table_name = {table_text}"
                " AND column_name = {column_text}) THEN"
                " ALTER TABLE {schema}.{listing} ADD COLUMN IF NOT EXISTS {column} {kind};"
                " END IF; END $$"
            ).format(
                schema_text=Literal(schema_name),
                table_text=Literal(LISTING),
                column_text=Literal(column),
                column=Identifier(column),
                kind=SQL(kind),
                **names,
            )
        )
    # Partial indexes: only the few rows with a schedule are in them.
    statements += [
        SQL(statement).format(**names)
        for statement in (
            "CREATE INDEX IF NOT EXISTS strongroom_listing_deletion"
            " ON {schema}.{listing} (deletion_date) WHERE deletion_date IS NOT NULL",
            "CREATE INDEX IF NOT EXISTS strongroom_listing_rotation"
            " ON {schema}.{listing} (next_rotation_at)"
            " WHERE next_rotation_at IS NOT NULL",
        )
    ]
    return statements
