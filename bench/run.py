"""strongroom's benchmark table: every performance target (README, Performance) as a ratio.

    python bench/run.py [--quick] [--secrets N] [--backend postgres|sqlite]
                        [--url postgresql://postgres@127.0.0.1/postgres] [--plot docs/bench.png]

Runs on PostgreSQL (a scratch database per run, made from the admin URL, default
``STRONGROOM_TEST_POSTGRES_URL``) and on SQLite. Each operation runs against
strongroom and against a baseline measured in the same process on the same
database: raw psycopg/sqlite3 with prepared statements doing the same logical work,
or strongroom itself where the target is relative (8 writers vs 1, 10,000 versions
vs 1). Medians of several repetitions with min-max. Figures, not assertions:
``--quick`` (a few thousand secrets) is a smoke run for CI; the full run seeds
1,000,000 secrets through the real write path (batched saves) and takes a while.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

sys.path.insert(0, str(Path(__file__).parent))
from keys_lifecycle import eventsourcing_env, lines, scratch_store

from strongroom import SecretsManager
from strongroom.projections.rows import encode_cursor

KEY = os.urandom(32)
VALUE = "value-0123456789abcdef"


@dataclass
class Result:
    operation: str
    ours: list[float]
    base: list[float]
    target: str = "-"
    passed: Callable[[float], bool] | None = None
    unit: str = "ops/s"
    note: str = ""
    informational: bool = False  # a smoke run's figures judge nothing

    @property
    def ratio(self) -> float:
        base = statistics.median(self.base) if self.base else 0.0
        return statistics.median(self.ours) / base if base else float("nan")

    def verdict(self) -> str:
        if self.passed is None:
            return ""
        if self.informational:
            return "info"
        return "PASS" if self.passed(self.ratio) else "FAIL"

    def row(self) -> str:
        def cell(values: list[float]) -> str:
            if not values:
                return f"{'-':>24}"
            med = statistics.median(values)
            return f"{med:>10.0f} ({min(values):.0f}-{max(values):.0f})".rjust(24)

        ratio = f"{self.ratio:6.2f}" if self.base else f"{'-':>6}"
        return (
            f"{self.operation:<40} {cell(self.ours)} {cell(self.base)} {ratio}  "
            f"{self.target:<22} {self.verdict():<4} {self.note}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "ours": self.ours,
            "base": self.base,
            "ratio": None if not self.base else self.ratio,
            "target": self.target,
            "verdict": self.verdict(),
            "unit": self.unit,
            "note": self.note,
        }


def rate(count: int, action: Callable[[int], object]) -> float:
    started = time.perf_counter()
    for i in range(count):
        action(i)
    return count / (time.perf_counter() - started)


def threaded_rate(
    threads: int, count: int, action: Callable[[int, int], object]
) -> float:
    """Operations per second of ``threads`` threads doing ``count`` actions each."""
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        barrier.wait()
        try:
            for i in range(count):
                action(t, i)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return threads * count / elapsed


# ------------------------------------------------------------------ raw baselines


class RawPostgres:
    """The same logical work with psycopg, prepared statements, pipeline mode."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(
            "CREATE TABLE raw_keys (id uuid PRIMARY KEY, wrapped bytea NOT NULL, kek text)"
        )
        self.conn.execute(
            "CREATE TABLE raw_heads (id uuid PRIMARY KEY, version bigint, state bytea)"
        )
        self.conn.execute(
            "CREATE TABLE raw_events (originator_id uuid, originator_version bigint, "
            "topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        self.last = uuid.uuid4()
        self.local = threading.local()

    def _conn(self) -> psycopg.Connection[Any]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = psycopg.connect(self.url, autocommit=True)
        return conn

    def create(self, _: int = 0) -> None:
        """A key row and two events (the name's reservation and the secret's)."""
        conn = self._conn()
        secret_id, reservation_id = uuid.uuid4(), uuid.uuid4()
        with conn.pipeline(), conn.transaction():
            conn.execute(
                "INSERT INTO raw_keys VALUES (%s, %s, %s)",
                (secret_id, os.urandom(61), "raw"),
                prepare=True,
            )
            for originator in (reservation_id, secret_id):
                conn.execute(
                    "INSERT INTO raw_events (originator_id, originator_version, topic, state) "
                    "VALUES (%s, 1, 'x', %s)",
                    (originator, os.urandom(300)),
                    prepare=True,
                )
        self.last = secret_id

    def update(self, i: int) -> None:
        """One event and one head row."""
        conn = self._conn()
        with conn.pipeline(), conn.transaction():
            conn.execute(
                "INSERT INTO raw_events (originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, 'x', %s)",
                (self.last, i + 2, os.urandom(300)),
                prepare=True,
            )
            conn.execute(
                "INSERT INTO raw_heads VALUES (%s, %s, %s) ON CONFLICT (id) DO UPDATE "
                "SET version = EXCLUDED.version, state = EXCLUDED.state",
                (self.last, i + 2, os.urandom(300)),
                prepare=True,
            )

    def seed_kv(self, value: bytes) -> None:
        """A key-value table with one row: the plainest store a reveal could read."""
        self.conn.execute("CREATE TABLE kv (name text PRIMARY KEY, state bytea)")
        self.conn.execute("INSERT INTO kv VALUES ('bench/kv', %s)", (value,))

    def read_kv(self, _: int = 0) -> None:
        """``SELECT state FROM kv WHERE name = %s``, prepared, autocommit."""
        self._conn().execute(
            "SELECT state FROM kv WHERE name = %s", ("bench/kv",), prepare=True
        ).fetchone()

    def read(self, _: int = 0) -> None:
        """One prepared SELECT of one row by key."""
        self._conn().execute(
            "SELECT state FROM raw_events WHERE originator_id = %s AND originator_version = 1",
            (self.last,),
            prepare=True,
        ).fetchone()

    def list_page(self, after: tuple[str, str], limit: int = 101) -> None:
        """The listing's keyset query, straight."""
        self._conn().execute(
            "SELECT * FROM strongroom_listing WHERE status <> 'deleted' "
            "AND (ns_key, name) > (%s, %s) ORDER BY ns_key, name LIMIT %s",
            (*after, limit),
            prepare=True,
        ).fetchall()

    def bulk(self, count: int) -> None:
        """``count`` key rows and reservation events, COPY-free batches of 500."""
        conn = self._conn()
        for start in range(0, count, 500):
            n = min(500, count - start)
            ids = [uuid.uuid4() for _ in range(n)]
            with conn.transaction(), conn.cursor() as curs:
                curs.executemany(
                    "INSERT INTO raw_keys VALUES (%s, %s, 'raw')",
                    [(i, os.urandom(61)) for i in ids],
                )
                curs.executemany(
                    "INSERT INTO raw_events (originator_id, originator_version, topic, "
                    "state) VALUES (%s, 1, 'x', %s)",
                    [(i, os.urandom(200)) for i in ids],
                )

    def close(self) -> None:
        self.conn.close()


class RawSQLite:
    """The same logical work with sqlite3."""

    def __init__(self, path: str, listing: str) -> None:
        self.path, self.listing = path, listing
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE raw_keys (id TEXT PRIMARY KEY, wrapped BLOB, kek TEXT)"
        )
        conn.execute(
            "CREATE TABLE raw_heads (id TEXT PRIMARY KEY, version INTEGER, state BLOB)"
        )
        conn.execute(
            "CREATE TABLE raw_events (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        self.last = uuid.uuid4().hex
        self.local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        local = getattr(self, "local", None)
        conn = getattr(local, "conn", None) if local is not None else None
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            if local is not None:
                local.conn = conn
        return conn

    def create(self, _: int = 0) -> None:
        conn = self._conn()
        secret_id, reservation_id = uuid.uuid4().hex, uuid.uuid4().hex
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO raw_keys VALUES (?, ?, ?)", (secret_id, os.urandom(61), "raw")
        )
        for originator in (reservation_id, secret_id):
            conn.execute(
                "INSERT INTO raw_events VALUES (?, 1, 'x', ?)",
                (originator, os.urandom(300)),
            )
        conn.execute("COMMIT")
        self.last = secret_id

    def update(self, i: int) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO raw_events VALUES (?, ?, 'x', ?)",
            (self.last, i + 2, os.urandom(300)),
        )
        conn.execute(
            "INSERT OR REPLACE INTO raw_heads VALUES (?, ?, ?)",
            (self.last, i + 2, os.urandom(300)),
        )
        conn.execute("COMMIT")

    def read(self, _: int = 0) -> None:
        self._conn().execute(
            "SELECT state FROM raw_events WHERE originator_id = ? AND originator_version = 1",
            (self.last,),
        ).fetchone()

    def list_page(self, after: tuple[str, str], limit: int = 101) -> None:
        conn = getattr(self, "_listing", None)
        if conn is None:
            conn = self._listing = sqlite3.connect(self.listing)
        conn.execute(
            "SELECT * FROM strongroom_listing WHERE status <> 'deleted' "
            "AND (ns_key, name) > (?, ?) ORDER BY ns_key, name LIMIT ?",
            (*after, limit),
        ).fetchall()

    def bulk(self, count: int) -> None:
        conn = self._conn()
        for start in range(0, count, 500):
            n = min(500, count - start)
            ids = [uuid.uuid4().hex for _ in range(n)]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO raw_keys VALUES (?, ?, 'raw')",
                [(i, os.urandom(61)) for i in ids],
            )
            conn.executemany(
                "INSERT INTO raw_events VALUES (?, 1, 'x', ?)",
                [(i, os.urandom(200)) for i in ids],
            )
            conn.execute("COMMIT")

    def close(self) -> None:
        pass


# ------------------------------------------------------------------ anchor


class AnchorVault(Application[uuid.UUID]):
    """A plain eventsourcing Application with its stock AESCipher: what a user would
    otherwise assemble by hand (one aggregate per secret, one key for all)."""


class AnchorItem(Aggregate):
    @event("Created")
    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value


def anchor_app(url: str, tmp: str) -> Any:
    """The anchor application on the same database."""
    import base64

    env = {
        "CIPHER_TOPIC": "eventsourcing.cipher:AESCipher",
        "CIPHER_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    if url.startswith("postgresql"):
        env |= eventsourcing_env(url) | {"POSTGRES_EVENTS_TABLE_NAME": "anchor_events"}
    else:
        env |= eventsourcing_env(f"sqlite:///{tmp}/anchor.db")
    return AnchorVault(env=env)


# ------------------------------------------------------------------ the runs


@dataclass
class Plan:
    ops: int
    reps: int
    history: int
    secrets: int
    bulk: int
    threads: list[int] = field(default_factory=lambda: [1, 2, 4, 8])


def run_backend(
    label: str, url: str, raw: Any, plan: Plan, tmp: str, curves: dict[str, Any]
) -> list[Result]:
    results: list[Result] = []
    ops, reps = plan.ops, plan.reps

    def say(text: str) -> None:
        print(f"  [{label}] {text}", file=sys.stderr, flush=True)

    with SecretsManager.open(url, master_key=KEY) as sm:
        # -------- writes
        say("create")
        run = [0]

        def ours_create(i: int) -> None:
            sm.create(f"bench/{run[0]}/{i}", VALUE)

        ours, base = [], []
        for rep in range(reps):
            run[0] = rep
            ours.append(rate(ops, ours_create))
            base.append(rate(ops, raw.create))
        one_writer, raw_create = ours, base
        results.append(
            Result("create, one writer", ours, base, ">= 0.6x raw", lambda r: r >= 0.6)
        )

        say("create, concurrent writers")
        curve: dict[int, float] = {}
        many: list[float] = []
        raw_many: list[float] = []
        for threads in plan.threads:
            samples = []
            for rep in range(reps if threads == 8 else 1):
                tag = f"w{threads}-{rep}"
                samples.append(
                    threaded_rate(
                        threads,
                        max(ops // threads, 20),
                        lambda t, i, tag=tag: sm.create(f"bench/{tag}/{t}/{i}", VALUE),
                    )
                )
            curve[threads] = statistics.median(samples)
            if threads == 8:
                many = samples
                raw_many = [
                    threaded_rate(8, max(ops // 8, 20), lambda t, i: raw.create())
                    for _ in range(reps)
                ]
        curves.setdefault("writers", {})[label] = curve
        results.append(
            Result(
                "create, 8 writers vs one writer",
                many,
                one_writer,
                ">= 2x one writer",
                lambda r: r >= 2.0,
                note=f"raw 8 writers: {statistics.median(raw_many):.0f}/s",
            )
        )

        say("update")
        sm.create("bench/updated", VALUE)
        base_secret = raw.last
        ours, base = [], []
        for rep in range(reps):
            ours.append(
                rate(ops, lambda i: sm.update("bench/updated", value=f"{VALUE}{i}"))
            )
            raw.last = base_secret
            base.append(rate(ops, lambda i, rep=rep: raw.update(rep * ops + i)))
        results.append(Result("update (new value version)", ours, base, "(no target)"))

        # -------- reads
        say("reveal")
        sm.create("bench/read", VALUE)
        raw.create()
        ours = [rate(ops * 2, lambda _: sm.reveal("bench/read")) for _ in range(reps)]
        base = [rate(ops * 2, raw.read) for _ in range(reps)]
        one_reader, raw_read = ours, base
        results.append(
            Result("reveal, one reader", ours, base, ">= 0.6x raw", lambda r: r >= 0.6)
        )
        if isinstance(raw, RawPostgres):
            kilobyte = "k" * 1024
            sm.create("bench/read-1k", kilobyte)
            raw.seed_kv(kilobyte.encode())
            ours = [
                rate(ops * 2, lambda _: sm.reveal("bench/read-1k")) for _ in range(reps)
            ]
            base = [rate(ops * 2, raw.read_kv) for _ in range(reps)]
            results.append(
                Result(
                    "reveal 1 KB vs SELECT state FROM kv",
                    ours,
                    base,
                    ">= 0.6x raw",
                    lambda r: r >= 0.6,
                )
            )

        curve = {}
        for threads in plan.threads:
            curve[threads] = threaded_rate(
                threads, ops, lambda t, i: sm.reveal("bench/read")
            )
        curves.setdefault("readers", {})[label] = curve
        ours = [
            threaded_rate(4, ops, lambda t, i: sm.reveal("bench/read"))
            for _ in range(reps)
        ]
        base = [threaded_rate(4, ops, lambda t, i: raw.read()) for _ in range(reps)]
        results.append(Result("reveal, 4 readers", ours, base, "(no target)"))

        say(f"reveal of {plan.history} versions")
        sm.create("bench/long", "v0")
        for i in range(plan.history - 1):
            sm.update("bench/long", value=f"v{i + 1}")
        long_rates = [
            rate(ops * 2, lambda _: sm.reveal("bench/long")) for _ in range(reps)
        ]
        short_rates = [
            rate(ops * 2, lambda _: sm.reveal("bench/read")) for _ in range(reps)
        ]
        results.append(
            Result(
                f"reveal, {plan.history:,} versions vs 1",
                long_rates,
                short_rates,
                "<= 2x the time (>= 0.5)",
                lambda r: r >= 0.5,
            )
        )

        say("key API")
        ours = [
            rate(
                ops,
                lambda i, rep=rep: sm.keys.set_secret(f"k-{rep}-{i}", "key-material"),
            )
            for rep in range(reps)
        ]
        results.append(
            Result(
                "key API set_secret",
                ours,
                raw_create,
                "(no target)",
                note="baseline: raw create",
            )
        )
        ours = [
            rate(ops * 2, lambda i: sm.keys.get_secret("k-0-1")) for _ in range(reps)
        ]
        results.append(
            Result(
                "key API get_secret",
                ours,
                raw_read,
                "(no target)",
                note="baseline: raw read",
            )
        )

        # -------- anchor
        say("anchor")
        app = anchor_app(url, tmp)
        try:
            item_ids: list[Any] = []

            def anchor_create(i: int) -> None:
                item = AnchorItem(name=f"a/{i}", value=VALUE)
                app.save(item)
                item_ids.append(item.id)

            anchor_c = [rate(ops, anchor_create) for _ in range(reps)]
            target_id = item_ids[0]
            anchor_r = [
                rate(ops * 2, lambda _: app.repository.get(target_id).value)
                for _ in range(reps)
            ]
        finally:
            app.close()
        results.append(
            Result(
                "create vs eventsourcing + AESCipher", one_writer, anchor_c, "(anchor)"
            )
        )
        results.append(
            Result(
                "reveal vs eventsourcing + AESCipher", one_reader, anchor_r, "(anchor)"
            )
        )

        # -------- bulk
        say(f"bulk create of {plan.bulk:,}")
        started = time.perf_counter()
        sm.create_many((f"bulk/{i:07d}", VALUE) for i in range(plan.bulk))
        ours_bulk = plan.bulk / (time.perf_counter() - started)
        started = time.perf_counter()
        raw.bulk(plan.bulk)
        raw_bulk = plan.bulk / (time.perf_counter() - started)
        results.append(
            Result(
                "bulk create (secrets/s)",
                [ours_bulk],
                [raw_bulk],
                "(no target)",
                note="raw: key row + event, batches of 500",
            )
        )
        started = time.perf_counter()
        sm.keys.import_secrets(lines(plan.bulk))
        imported = plan.bulk + plan.bulk // 10
        results.append(
            Result(
                "bulk key import (keys/s)",
                [imported / (time.perf_counter() - started)],
                [raw_bulk],
                "(no target)",
            )
        )

        # -------- scale
        say(f"seeding to {plan.secrets:,} secrets")
        stats_small = [time_ms(sm.stats) for _ in range(20)]
        have = plan.bulk
        started = time.perf_counter()

        def seeded(n: int) -> None:
            if n % 100_000 == 0:
                say(
                    f"  seeded {have + n:,} ({n / (time.perf_counter() - started):.0f}/s)"
                )

        if plan.secrets > have:
            sm.create_many(
                ((f"seed/{i:07d}", VALUE) for i in range(plan.secrets - have)),
                batch_size=1000,
                progress=seeded,
            )
        seed_rate = (plan.secrets - have) / (time.perf_counter() - started)
        say("catching up projections")
        started = time.perf_counter()
        sm.stats()
        catchup = time.perf_counter() - started
        stats_big = [time_ms(sm.stats) for _ in range(50)]
        results.append(
            Result(
                f"stats among {plan.secrets:,} (ms)",
                stats_big,
                stats_small,
                "<= 5 ms, flat",
                lambda r, s=stats_big: statistics.median(s) <= 5.0 and r <= 2.0,
                unit="ms",
                note=f"baseline: stats among {plan.bulk:,} ms; verdict on median",
            )
        )

        say("list pages")
        names = sorted(
            f"seed/{i:07d}"
            for i in range(0, plan.secrets - have, max((plan.secrets - have) // 10, 1))
        )
        depth_curve: dict[str, float] = {}
        first_ours = [per_second(lambda: sm.list(limit=100)) for _ in range(reps * 3)]
        first_raw = [
            per_second(lambda: raw.list_page(("", ""))) for _ in range(reps * 3)
        ]
        results.append(
            Result(
                f"list first page of 100 among {plan.secrets:,}",
                first_ours,
                first_raw,
                ">= 0.1x raw",
                lambda r: r >= 0.1,
            )
        )
        deep = names[int(len(names) * 0.9)]
        cursor = cursor_for(deep)
        deep_ours = [
            per_second(lambda: sm.list(limit=100, cursor=cursor))
            for _ in range(reps * 3)
        ]
        deep_raw = [
            per_second(lambda: raw.list_page(("", deep))) for _ in range(reps * 3)
        ]
        results.append(
            Result(
                "list a page at 90% depth",
                deep_ours,
                deep_raw,
                ">= 0.1x raw",
                lambda r: r >= 0.1,
            )
        )
        results.append(
            Result(
                "list: deep page vs first page",
                deep_ours,
                first_ours,
                "flat (>= 0.5)",
                lambda r: r >= 0.5,
            )
        )
        for fraction in (0.0, 0.25, 0.5, 0.75, 0.99):
            name = names[min(int(len(names) * fraction), len(names) - 1)]
            c = cursor_for(name)
            depth_curve[f"{fraction:.0%}"] = 1000 * statistics.median(
                [
                    1 / per_second(lambda c=c: sm.list(limit=100, cursor=c))
                    for _ in range(5)
                ]
            )
        curves.setdefault("list_depth_ms", {})[label] = depth_curve

        say("rebuild")
        events = sm._app.recorder.max_notification_id() or 0
        started = time.perf_counter()
        sm.rebuild_projections()
        rebuild = events / (time.perf_counter() - started)
        results.append(
            Result(
                f"projection rebuild ({events:,} events, events/s)",
                [rebuild],
                [5000.0],
                ">= 5,000 events/s",
                lambda r: r >= 1.0,
                note=f"seeding ran at {seed_rate:.0f} secrets/s; first catch-up {catchup:.0f} s",
            )
        )

    # -------- memory, each in a fresh process
    for op in ("list", "export", "audit", "rebuild", "key export"):
        say(f"peak RSS: {op}")
        rss, seconds, count = child_rss(op, url)
        results.append(
            Result(
                f"peak RSS: {op} over {count:,}"
                + (" keys" if op == "key export" else "")
                + " (MB)",
                [rss],
                [],
                "< 300 MB",
                lambda _, rss=rss: rss < 300,
                unit="MB",
                note=f"{count / seconds:,.0f}/s" if op.endswith("export") else "",
            )
        )
    return results


def time_ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def per_second(action: Callable[[], object], count: int = 20) -> float:
    started = time.perf_counter()
    for _ in range(count):
        action()
    return count / (time.perf_counter() - started)


def cursor_for(name: str) -> str:
    from types import SimpleNamespace

    return encode_cursor(SimpleNamespace(ns_key="", name=name))  # type: ignore[arg-type]


# ------------------------------------------------------------------ RSS children


def child_rss(op: str, url: str) -> tuple[float, float, int]:
    """Peak RSS (MB) of ``op`` in a fresh process, its seconds and the items it saw."""
    proc = subprocess.run(
        [sys.executable, __file__, "--rss-child", op, "--url", url, "--key", KEY.hex()],
        capture_output=True,
        text=True,
        check=True,
    )
    rss, seconds, count = proc.stdout.strip().splitlines()[-1].split()
    return float(rss), float(seconds), int(count)


def rss_child(op: str, url: str, key: bytes) -> None:
    count = 0
    with SecretsManager.open(url, master_key=key) as sm:
        # Catch up first: what is measured is the operation itself.
        total = sm.stats().total
        started = time.perf_counter()
        if op == "list":
            cursor = None
            while True:
                page = sm.list(limit=1000, cursor=cursor)
                count += len(page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
        elif op in {"export", "key export"}:
            lines = (
                sm.export_secrets(plaintext=True)
                if op == "export"
                else sm.keys.export_secrets(plaintext=True)
            )
            with open(os.devnull, "w") as sink:
                for line in lines:
                    sink.write(line)
                    count += 1
        elif op == "audit":
            for _ in sm.audit():
                count += 1
        elif op == "rebuild":
            sm.rebuild_projections()
            count = total
        seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(rss, seconds, count)


# ------------------------------------------------------------------ output


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip()
                for line in info
                if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    system = f"{platform.system()} {platform.release()}"
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {system}"
    )


def plot(curves: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, key, title, ylabel in (
        (axes[0], "writers", "create: throughput vs writers", "creates/s"),
        (axes[1], "readers", "reveal: throughput vs readers", "reveals/s"),
    ):
        for label, curve in curves.get(key, {}).items():
            xs = sorted(int(k) for k in curve)
            ax.plot(
                xs,
                [curve[x] if x in curve else curve[str(x)] for x in xs],
                marker="o",
                label=label,
            )
        ax.set_title(title)
        ax.set_xlabel("threads")
        ax.set_ylabel(ylabel)
        ax.set_xticks([1, 2, 4, 8])
        ax.set_ylim(bottom=0)
        ax.legend()
    ax = axes[2]
    for label, curve in curves.get("list_depth_ms", {}).items():
        ax.plot(list(curve), list(curve.values()), marker="o", label=label)
    ax.set_title("list: page of 100, latency vs depth")
    ax.set_xlabel("cursor position in the listing")
    ax.set_ylabel("ms per page")
    ax.set_ylim(bottom=0)
    ax.legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--url", default=os.environ.get("STRONGROOM_TEST_POSTGRES_URL"))
    parser.add_argument("--backend", choices=["postgres", "sqlite"], action="append")
    parser.add_argument(
        "--secrets", type=int, help="secrets to seed for list/stats/rebuild/RSS"
    )
    parser.add_argument("--plot", help="write the plot (PNG) here")
    parser.add_argument("--json", help="write the results (JSON) here")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.url, bytes.fromhex(args.key))
        return
    if args.quick:
        plan = Plan(
            ops=200, reps=3, history=200, secrets=args.secrets or 5000, bulk=1000
        )
    else:
        plan = Plan(
            ops=1000,
            reps=5,
            history=10_000,
            secrets=args.secrets or 1_000_000,
            bulk=20_000,
        )
    backends = args.backend or ["postgres", "sqlite"]
    if "postgres" in backends and not args.url:
        sys.exit("PostgreSQL: pass --url or set STRONGROOM_TEST_POSTGRES_URL")
    header = (
        f"{'operation':<40} {'strongroom':>24} {'baseline':>24} {'ratio':>6}  "
        f"{'target':<22} verdict"
    )
    curves: dict[str, Any] = {}
    report: dict[str, Any] = {
        "machine": machine(),
        "mode": "quick" if args.quick else "full",
    }
    print(f"strongroom bench ({report['mode']}): {report['machine']}")
    with tempfile.TemporaryDirectory() as tmp:
        for label in backends:
            admin = args.url if label == "postgres" else None
            started = time.perf_counter()
            with scratch_store(admin, tmp, "bench") as url:
                raw: RawPostgres | RawSQLite = (
                    RawPostgres(url)
                    if admin
                    else RawSQLite(f"{tmp}/raw.db", f"{tmp}/bench.db")
                )
                try:
                    results = run_backend(label, url, raw, plan, tmp, curves)
                finally:
                    raw.close()
            print(
                f"\n{label} ({plan.ops} ops x {plan.reps} reps, "
                f"{time.perf_counter() - started:.0f} s)"
            )
            if args.quick:
                print(
                    "informational: a smoke run on a small store; targets are "
                    "judged only by a full run"
                )
            print(header)
            for result in results:
                result.informational = args.quick
                print(result.row())
            report[label] = [r.as_dict() for r in results]
    report["curves"] = curves
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    if args.plot:
        plot(curves, args.plot)


if __name__ == "__main__":
    main()
