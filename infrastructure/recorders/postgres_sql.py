"""PostgreSQL statements composed once: bulk row inserts, the one-statement save, and
the few connections kept for saves and point reads (hot paths, tuned by measurement)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from psycopg.sql import SQL, Composed, Identifier, Literal

from strongroom.infrastructure.recorders.base import (
    _KEY_IDX,
    _SELECT_HEAD,
    _SELECT_HEADS,
    HEADS_TABLE,
    KEY_INDEX_TABLE,
    KEYS_TABLE,
    META_TABLE,
)

if TYPE_CHECKING:
    from psycopg import Cursor


class RowsInsert:
    """``INSERT ... VALUES (row), (row), ... suffix`` for any number of rows.

    Binding scalars costs a fraction of binding arrays (psycopg inspects every list
    it dumps), and saves are a few rows each; the statement text for each row count
    is composed once.
    """

    _PREPARED_UP_TO = 8

    def __init__(self, prefix: Composed, row: str, suffix: str = "") -> None:
        self._prefix = prefix.as_bytes(None)
        self._row = row.encode()
        self._suffix = suffix.encode()
        self._texts: dict[int, bytes] = {}

    def execute(self, curs: Cursor[Any], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (tuples of the row template's parameters)."""
        count = len(rows)
        text = self._texts.get(count)
        if text is None:
            text = self._prefix + b" VALUES " + b", ".join([self._row] * count)
            text += b" " + self._suffix
            if count <= self._PREPARED_UP_TO:
                self._texts[count] = text
        params = [value for row in rows for value in row]
        curs.execute(text, params, prepare=count <= self._PREPARED_UP_TO)


class SaveStatement:
    """One statement that saves key rows, heads and events, after the events lock.

    Every part selects from the lock's CTE, so no row is written, and no row lock
    taken, before the writer holds the EXCLUSIVE lock on the events table (which
    makes notification id order commit order, as in the base class). A small save
    binds scalars in VALUES rows (binding a list costs more than the rows it holds)
    under a text composed once per shape; a large one binds a column array each.
    """

    _SCALARS_UP_TO = 16

    def __init__(
        self,
        *,
        lock: Identifier,
        keys: Identifier,
        heads: Identifier,
        events: Identifier,
        channel: str,
    ) -> None:
        def text(template: str, *parts: Any) -> bytes:
            return SQL(template).format(*parts).as_bytes(None)

        self._lock = text("WITH l AS MATERIALIZED (SELECT {}(%b))", lock)
        self._parts = (
            (
                text(
                    ", gk AS (DELETE FROM {} USING l WHERE id IN (SELECT * FROM ", keys
                ),
                ("uuid",),
                b"))",
            ),
            (
                text(
                    ", k AS (INSERT INTO {} (id, wrapped, kek) SELECT v.* FROM l, ",
                    keys,
                ),
                ("uuid", "bytea", "text"),
                b")",
            ),
            (
                text(
                    ", gh AS (DELETE FROM {} USING l WHERE id IN (SELECT * FROM ", heads
                ),
                ("uuid",),
                b"))",
            ),
            (
                text(
                    ", h AS (INSERT INTO {} AS h (id, version, state) SELECT v.* "
                    "FROM l, ",
                    heads,
                ),
                ("uuid", "bigint", "bytea"),
                b" ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, "
                b"state = EXCLUDED.state WHERE h.version < EXCLUDED.version)",
            ),
            (
                text(
                    ", n AS (SELECT pg_notify({}, '') FROM l) INSERT INTO {} "
                    "(originator_id, originator_version, topic, state) SELECT v.* "
                    "FROM n, ",
                    Literal(channel),
                    events,
                ),
                ("uuid", "bigint", "text", "bytea"),
                b" RETURNING notification_id",
            ),
        )
        self._texts: dict[tuple[int, ...], bytes] = {}

    def compose(
        self,
        lock_timeout: str,
        *,
        gone_keys: Sequence[UUID],
        keys: Sequence[tuple[UUID, bytes, str | None]],
        gone_heads: Sequence[UUID],
        heads: Sequence[tuple[UUID, int, bytes]],
        events: Sequence[tuple[Any, int, str, bytes]],
    ) -> tuple[bytes, list[Any], bool]:
        """The statement's text, its parameters, and whether to prepare it."""
        parts: tuple[Sequence[Sequence[Any]], ...] = (
            [(i,) for i in gone_keys],
            keys,
            [(i,) for i in gone_heads],
            heads,
            events,
        )
        params: list[Any] = [lock_timeout]
        small = max(len(rows) for rows in parts) <= self._SCALARS_UP_TO
        if small:
            shape = tuple(len(rows) for rows in parts)
            for rows in parts:
                params.extend(value for row in rows for value in row)
        else:
            # -1: present, bound as arrays (one text per set of parts present).
            shape = tuple(-1 if rows else 0 for rows in parts)
            for rows in parts:
                if rows:
                    params.extend(list(column) for column in zip(*rows, strict=True))
        text = self._texts.get(shape)
        if text is None:
            text = self._texts[shape] = self._compose(shape)
        return text, params, small

    def _compose(self, shape: tuple[int, ...]) -> bytes:
        out = [self._lock]
        for count, (prefix, types, suffix) in zip(shape, self._parts, strict=True):
            if count == 0:
                continue
            if count < 0:
                arrays = ", ".join(f"%b::{t}[]" for t in types).encode()
                source = b"unnest(" + arrays + b") AS v"
            else:
                row = ("(" + ", ".join(f"%b::{t}" for t in types) + ")").encode()
                source = b"(VALUES " + b", ".join([row] * count) + b") AS v"
            out += [prefix, source, suffix]
        return b"".join(out)


KEYS_DESTROYED = "SRK01"
"""SQLSTATE raised by the key-holding function when a data key no longer exists."""


class PostgresStatements:
    """Every statement of the PostgreSQL recorder, composed once per store.

    ``create`` holds the key store's DDL (tables, index, the events lock function).
    """

    def __init__(self, schema_name: str, events_table: str, channel: str) -> None:
        self.create: list[Composed] = []
        self.notify = SQL("NOTIFY {}").format(Identifier(channel)).as_bytes(None)
        self.insert_stored = RowsInsert(
            SQL(
                "INSERT INTO {}.{} (originator_id, originator_version, topic, state)"
            ).format(Identifier(schema_name), Identifier(events_table)),
            "(%b, %b, %b, %b)",
            "RETURNING notification_id",
        )
        schema = Identifier(schema_name)

        def sql(text: str) -> Composed:
            return SQL(text).format(
                keys=SQL("{}.{}").format(schema, Identifier(KEYS_TABLE)),
                index=SQL("{}.{}").format(schema, Identifier(KEY_INDEX_TABLE)),
                meta=SQL("{}.{}").format(schema, Identifier(META_TABLE)),
                counters=SQL("{}.{}").format(schema, Identifier("strongroom_counters")),
                heads=SQL("{}.{}").format(schema, Identifier(HEADS_TABLE)),
                events=SQL("{}.{}").format(schema, Identifier(events_table)),
                kek_index=Identifier(KEYS_TABLE + "_kek_idx"),
            )

        self.create.extend(
            [
                sql(
                    "CREATE TABLE IF NOT EXISTS {keys} ("
                    "id uuid PRIMARY KEY, wrapped bytea NOT NULL, kek text NOT NULL)"
                ),
                sql("CREATE INDEX IF NOT EXISTS {kek_index} ON {keys} (kek, id)"),
                sql(
                    "CREATE TABLE IF NOT EXISTS {index} ("
                    "idx bigint PRIMARY KEY, id uuid NOT NULL UNIQUE, "
                    "key_id bytea NOT NULL, deleted boolean NOT NULL DEFAULT false)"
                ),
                sql(
                    "CREATE TABLE IF NOT EXISTS {meta} ("
                    "name text PRIMARY KEY, value bytea NOT NULL)"
                ),
                sql(
                    "CREATE TABLE IF NOT EXISTS {counters} ("
                    "name text PRIMARY KEY, value bigint NOT NULL)"
                ),
                sql(
                    "CREATE TABLE IF NOT EXISTS {heads} ("
                    "id uuid PRIMARY KEY, version bigint NOT NULL, state bytea NOT NULL)"
                ),
            ]
        )
        self.put_heads = RowsInsert(
            sql("INSERT INTO {heads} AS h (id, version, state)"),
            "(%b, %b::bigint, %b)",
            "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, "
            "state = EXCLUDED.state WHERE h.version < EXCLUDED.version",
        )
        self.delete_heads = sql("DELETE FROM {heads} WHERE id = ANY(%b)")
        # A save without key-index changes (every secret write) is one statement:
        # its own transaction under autocommit, where eight pipelined statements
        # cost three times the client CPU, and a create's CPU limits throughput.
        lock = Identifier(schema_name, events_table + "_lock")
        self.create.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {lock}(p_timeout text) RETURNS void "
                "LANGUAGE plpgsql AS $body$ BEGIN "
                "PERFORM set_config('lock_timeout', p_timeout, true); "
                "LOCK TABLE {events} IN EXCLUSIVE MODE; END $body$"
            ).format(
                lock=lock,
                events=Identifier(schema_name, events_table),
            )
        )
        self.save = SaveStatement(
            lock=lock,
            keys=Identifier(schema_name, KEYS_TABLE),
            heads=Identifier(schema_name, HEADS_TABLE),
            events=Identifier(schema_name, events_table),
            channel=channel,
        )
        # A host application's write holds its aggregates' key rows (KEY SHARE) to
        # its commit, so a concurrent shred waits for it, or it sees the shred and
        # aborts: no event is sealed under a key that was destroyed before it.
        hold = Identifier(schema_name, KEYS_TABLE + "_hold")
        self.create.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {hold}(p_ids uuid[]) RETURNS void "
                "LANGUAGE plpgsql AS $body$ BEGIN "
                "IF (SELECT count(*) FROM (SELECT 1 FROM {keys} WHERE id = ANY(p_ids) "
                "FOR KEY SHARE) AS held) < cardinality(p_ids) THEN "
                "RAISE EXCEPTION 'a data key was destroyed' USING ERRCODE = {code}; "
                "END IF; END $body$"
            ).format(
                hold=hold,
                keys=Identifier(schema_name, KEYS_TABLE),
                code=Literal(KEYS_DESTROYED),
            )
        )
        self.hold_keys = SQL("SELECT {}(%b)").format(hold).as_bytes(None)
        self.keys_table = Identifier(schema_name, KEYS_TABLE)
        self.select_head = sql(_SELECT_HEAD + "%b").as_bytes(None)
        self.select_stream_version = sql(
            "SELECT max(originator_version) FROM {events} WHERE originator_id = %b"
        ).as_bytes(None)
        self.select_heads = sql(_SELECT_HEADS + "= ANY(%s)")
        # Key changes are written in one statement per kind per save, whatever their
        # number: a round trip per key made bulk imports slow.
        self.insert_keys = RowsInsert(
            sql("INSERT INTO {keys} (id, wrapped, kek)"), "(%b, %b, %b)"
        )
        self.delete_keys = sql("DELETE FROM {keys} WHERE id = ANY(%s)")
        self.select_keys = sql("SELECT id, wrapped, kek FROM {keys} WHERE id = ANY(%s)")
        # Each issued id gets idx = max(previous + 1, wanted). The counter row stays
        # locked to commit, so idx order is commit order: a reader paging by idx can
        # never miss an id committed after its page.
        self.issue_key_ids = sql(
            "WITH c AS (SELECT value FROM {counters} WHERE name = '" + _KEY_IDX + "' "
            "FOR UPDATE), "
            "v AS (SELECT u.id, u.key_id, u.deleted, greatest(c.value + u.ord, "
            "max(u.wanted - u.ord) OVER (ORDER BY u.ord) + u.ord) AS idx "
            "FROM c, unnest(%b::uuid[], %b::bytea[], %s::bool[], %s::bigint[]) "
            "WITH ORDINALITY AS u(id, key_id, deleted, wanted, ord)), "
            "ins AS (INSERT INTO {index} (idx, id, key_id, deleted) "
            "SELECT idx, id, key_id, deleted FROM v RETURNING idx) "
            "UPDATE {counters} SET value = (SELECT max(idx) FROM ins) "
            "WHERE name = '" + _KEY_IDX + "'"
        )
        self.shred_key_ids = sql("UPDATE {index} SET deleted = true WHERE id = ANY(%s)")
        self.insert_store_key = sql(
            "INSERT INTO {keys} (id, wrapped, kek) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING"
        )
        self.insert_counter = sql(
            "INSERT INTO {counters} (name, value) VALUES (%s, 0) ON CONFLICT DO NOTHING"
        )
        self.insert_meta = sql(
            "INSERT INTO {meta} (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        )
        self.select_keks = sql("SELECT name FROM {meta} WHERE name LIKE 'kek:%%'")
        self.select_index = {
            (with_ids, deleted): sql(
                "SELECT i.idx, i.id, i.key_id, k.wrapped, k.kek FROM {index} i "
                "LEFT JOIN {keys} k ON k.id = i.id WHERE i.idx >= %s"
                + (" AND i.id = ANY(%s)" if with_ids else "")
                + ("" if deleted else " AND NOT i.deleted")
                + " ORDER BY i.idx LIMIT %s OFFSET %s"
            )
            for with_ids in (False, True)
            for deleted in (False, True)
        }
        self.count_index = sql(
            "SELECT count(*) AS total, count(*) FILTER (WHERE deleted) AS deleted "
            "FROM {index}"
        )
        self.select_by_kek = {
            first: sql(
                "SELECT id, wrapped FROM {keys} WHERE kek = %s AND id "
                + (">=" if first else ">")
                + " %s ORDER BY id LIMIT %s"
            )
            for first in (True, False)
        }
        self.rewrap = sql(
            "UPDATE {keys} AS k SET wrapped = v.wrapped, kek = %s "
            "FROM unnest(%b::uuid[], %b::bytea[]) AS v(id, wrapped) "
            "WHERE k.id = v.id AND k.kek = %s"
        )
        self.count_by_kek = sql("SELECT kek, count(*) AS n FROM {keys} GROUP BY kek")
        self.retire = sql(
            "DELETE FROM {meta} WHERE name = %s "
            "AND NOT EXISTS (SELECT 1 FROM {keys} WHERE kek = %s)"
        )
