"""The SQLite tables of the secrets projection, and what brings a store made by an
earlier version up to them (columns added since)."""

from __future__ import annotations

from eventsourcing.persistence import OperationalError
from eventsourcing.sqlite import SQLiteDatastore

CREATE = (
    "CREATE TABLE IF NOT EXISTS strongroom_listing ("
    " id TEXT PRIMARY KEY, ns_key TEXT NOT NULL, namespace TEXT,"
    " name TEXT NOT NULL, version INTEGER NOT NULL, status TEXT NOT NULL,"
    " created_at TEXT NOT NULL, created_by TEXT, updated_at TEXT NOT NULL,"
    " updated_by TEXT, description TEXT, token_type TEXT,"
    " allowed_apps TEXT NOT NULL, envs TEXT NOT NULL, expires_at TEXT,"
    " tags TEXT NOT NULL, deletion_date TEXT, rotation_interval INTEGER,"
    " last_rotated_at TEXT, next_rotation_at TEXT) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS strongroom_listing_order"
    " ON strongroom_listing (ns_key, name)",
    "CREATE TABLE IF NOT EXISTS strongroom_expiry ("
    " id TEXT PRIMARY KEY, ns_key TEXT NOT NULL, expires_at TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS strongroom_counts ("
    " ns_key TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL,"
    " PRIMARY KEY (ns_key, status)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS strongroom_audit ("
    " position INTEGER PRIMARY KEY, secret_id TEXT NOT NULL,"
    " action TEXT NOT NULL, actor TEXT, at TEXT NOT NULL, version INTEGER)",
    "CREATE INDEX IF NOT EXISTS strongroom_audit_secret"
    " ON strongroom_audit (secret_id, position)",
    "CREATE TABLE IF NOT EXISTS strongroom_names ("
    " secret_id TEXT PRIMARY KEY, name TEXT NOT NULL, namespace TEXT) WITHOUT ROWID",
)
# Columns added after the listing table was first made (stores made before get
# them on open).
_LATER_COLUMNS = (
    ("deletion_date", "TEXT"),
    ("rotation_interval", "INTEGER"),
    ("last_rotated_at", "TEXT"),
    ("next_rotation_at", "TEXT"),
)
# After the columns exist: partial indexes hold only the rows with a schedule.
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS strongroom_listing_deletion"
    " ON strongroom_listing (deletion_date) WHERE deletion_date IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS strongroom_listing_rotation"
    " ON strongroom_listing (next_rotation_at) WHERE next_rotation_at IS NOT NULL",
)


def upgrade(datastore: SQLiteDatastore) -> None:
    """Add the columns (and their indexes) a store made earlier lacks."""
    # Read, then write in transactions of their own: a transaction that reads
    # before it writes can meet another process's and fail at once (SQLite
    # does not wait to upgrade a read lock that would deadlock).
    with datastore.transaction(commit=False) as c:
        c.execute("SELECT name FROM pragma_table_info('strongroom_listing')")
        present = {name for (name,) in c.fetchall()}
    for column, kind in _LATER_COLUMNS:
        if column in present:
            continue
        try:
            with datastore.transaction(commit=True) as c:
                c.execute(f"ALTER TABLE strongroom_listing ADD COLUMN {column} {kind}")
        except OperationalError as exc:
            # "duplicate column": another process added it meanwhile.
            if "duplicate column" not in str(exc):
                raise
    with datastore.transaction(commit=True) as c:
        for statement in _INDEXES:
            c.execute(statement)
