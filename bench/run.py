"""strongroom's benchmark table: each operation as a ratio to a raw baseline.

    python bench/run.py [--quick] [--url postgresql://postgres@127.0.0.1/postgres]

Runs on PostgreSQL (a scratch database per run, made from the admin URL) and on
SQLite. Each operation runs against strongroom and against a raw baseline doing
the same logical work with psycopg/sqlite3 and prepared statements, in the same
process on the same database; medians of several repetitions, with min-max shown.
Figures, not assertions: ``--quick`` is a smoke run for CI.

This is the first part of issue 5: create (one writer), reveal (one reader) and
reveal of a long history. The other DESIGN.md §7 operations are still to come.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from keys_lifecycle import scratch_store  # noqa: E402

from strongroom import SecretsManager  # noqa: E402

KEY = os.urandom(32)


@dataclass
class Result:
    operation: str
    ours: list[float]
    raw: list[float]
    target: str
    passed: Callable[[float], bool]

    def row(self) -> str:
        ours, raw = statistics.median(self.ours), statistics.median(self.raw)
        ratio = ours / raw if raw else float("nan")
        verdict = "PASS" if self.passed(ratio) else "FAIL"
        return (
            f"{self.operation:<38} {ours:>9.0f} ({min(self.ours):.0f}-{max(self.ours):.0f}) "
            f"{raw:>9.0f} ({min(self.raw):.0f}-{max(self.raw):.0f}) "
            f"{ratio:>6.2f}  {self.target:<18} {verdict}"
        )


def rate(count: int, action: Callable[[int], object]) -> float:
    started = time.perf_counter()
    for i in range(count):
        action(i)
    return count / (time.perf_counter() - started)


# ------------------------------------------------------------------ raw baselines


class RawPostgres:
    """The same logical work with psycopg: a key row and two events per create."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(
            "CREATE TABLE raw_keys (id uuid PRIMARY KEY, wrapped bytea NOT NULL, kek text)"
        )
        self.conn.execute(
            "CREATE TABLE raw_events (originator_id uuid, originator_version int, "
            "topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        )

    def create(self, _: int) -> None:
        secret_id, reservation_id = uuid.uuid4(), uuid.uuid4()
        # Pipeline mode: the raw path at its best, one round trip per transaction.
        with self.conn.pipeline(), self.conn.transaction():
            self.conn.execute(
                "INSERT INTO raw_keys VALUES (%s, %s, %s)",
                (secret_id, os.urandom(61), "raw"),
                prepare=True,
            )
            for originator in (reservation_id, secret_id):
                self.conn.execute(
                    "INSERT INTO raw_events (originator_id, originator_version, topic, state) "
                    "VALUES (%s, 1, 'x', %s)",
                    (originator, os.urandom(300)),
                    prepare=True,
                )
        self.last = secret_id

    def read(self, secret_id: uuid.UUID) -> None:
        self.conn.execute(
            "SELECT state FROM raw_events WHERE originator_id = %s AND originator_version = 1",
            (secret_id,),
            prepare=True,
        ).fetchone()

    def close(self) -> None:
        self.conn.close()


class RawSQLite:
    """The same logical work with sqlite3."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "CREATE TABLE raw_keys (id TEXT PRIMARY KEY, wrapped BLOB, kek TEXT)"
        )
        self.conn.execute(
            "CREATE TABLE raw_events (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )

    def create(self, _: int) -> None:
        secret_id, reservation_id = uuid.uuid4().hex, uuid.uuid4().hex
        self.conn.execute("BEGIN")
        self.conn.execute(
            "INSERT INTO raw_keys VALUES (?, ?, ?)", (secret_id, os.urandom(61), "raw")
        )
        for originator in (reservation_id, secret_id):
            self.conn.execute(
                "INSERT INTO raw_events VALUES (?, 1, 'x', ?)",
                (originator, os.urandom(300)),
            )
        self.conn.execute("COMMIT")
        self.last = secret_id

    def read(self, secret_id: str) -> None:
        self.conn.execute(
            "SELECT state FROM raw_events WHERE originator_id = ? AND originator_version = 1",
            (secret_id,),
        ).fetchone()

    def close(self) -> None:
        self.conn.close()


# ------------------------------------------------------------------ the runs


def run_backend(
    url: str, raw: RawPostgres | RawSQLite, *, count: int, reps: int, history: int
) -> list[Result]:
    results: list[Result] = []
    with SecretsManager.open(url, master_key=KEY) as sm:
        run = [0]

        def ours_create(i: int) -> None:
            sm.create(f"bench/{run[0]}/{i}", "value-0123456789")

        ours, base = [], []
        for rep in range(reps):
            run[0] = rep
            ours.append(rate(count, ours_create))
            base.append(rate(count, raw.create))
        results.append(
            Result("create, one writer", ours, base, ">= 0.6x raw", lambda r: r >= 0.6)
        )

        sm.create("bench/read", "value-0123456789")
        last = raw.last
        ours = [rate(count, lambda _: sm.reveal("bench/read")) for _ in range(reps)]
        base = [rate(count, lambda _: raw.read(last)) for _ in range(reps)]
        results.append(
            Result("reveal, one reader", ours, base, ">= 0.5x raw", lambda r: r >= 0.5)
        )

        sm.create("bench/long", "v0")
        for i in range(history):
            sm.update("bench/long", value=f"v{i + 1}")
        long_rates = [
            rate(count, lambda _: sm.reveal("bench/long")) for _ in range(reps)
        ]
        short_rates = [
            rate(count, lambda _: sm.reveal("bench/read")) for _ in range(reps)
        ]
        # Ratio = long / short throughput; the target "<= 2x the time" means >= 0.5.
        results.append(
            Result(
                f"reveal, {history + 1} versions vs 1",
                long_rates,
                short_rates,
                "<= 2x time (>=0.5)",
                lambda r: r >= 0.5,
            )
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--url", default=os.environ.get("STRONGROOM_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    count, reps, history = (200, 3, 200) if args.quick else (1000, 5, 10_000)
    header = (
        f"{'operation':<38} {'strongroom ops/s':>20} {'raw ops/s':>20} {'ratio':>6}  "
        f"{'target':<18} verdict"
    )
    with tempfile.TemporaryDirectory() as tmp:
        backends: list[tuple[str, str | None]] = [("sqlite", None)]
        if args.url:
            backends.insert(0, ("postgres", args.url))
        for label, admin in backends:
            with scratch_store(admin, tmp, "bench") as url:
                raw: RawPostgres | RawSQLite = (
                    RawPostgres(url) if admin else RawSQLite(f"{tmp}/raw.db")
                )
                try:
                    results = run_backend(
                        url, raw, count=count, reps=reps, history=history
                    )
                finally:
                    raw.close()
            print(
                f"\n{label} ({'quick' if args.quick else 'full'}: {count} ops x {reps})"
            )
            print(header)
            for result in results:
                print(result.row())


if __name__ == "__main__":
    main()
