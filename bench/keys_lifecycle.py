"""Time key export, import and master-key rotation over N aggregate keys.

    python bench/keys_lifecycle.py --count 100000 --url postgresql://postgres@127.0.0.1/postgres

Creates two scratch stores (a PostgreSQL database each, or SQLite files), fills the
first by importing N live keys and N/10 tombstones, exports it, imports the
export into the second, and rotates the first one's master key. Prints seconds and
keys/s for each step. Figures, not assertions: timings on shared machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from strongroom import SecretsManager

KEY_A = os.urandom(32)
KEY_B = os.urandom(32)


@contextmanager
def scratch_store(base: str | None, tmp: str, label: str) -> Iterator[str]:
    if base is None:
        yield f"sqlite:///{tmp}/{label}.db"
        return
    name = f"strongroom_bench_{label}_{secrets.token_hex(4)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(base)._replace(path="/" + name))
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def eventsourcing_env(url: str) -> dict[str, str]:
    """eventsourcing's persistence settings for a scratch store's URL."""
    if url.startswith("sqlite"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": url.removeprefix("sqlite:///"),
        }
    parts = urlsplit(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
    }


def lines(count: int) -> Iterator[str]:
    """``count`` live keys, then a tenth as many tombstones."""
    for i in range(count + count // 10):
        secret = "null" if i >= count else f'"{secrets.token_urlsafe(32)}"'
        yield f'{{"id":"aggregate-{i}","idx":{i + 1},"secret":{secret}}}\n'


def report(step: str, count: int, seconds: float) -> None:
    print(f"{step:<28} {count:>8} keys {seconds:8.2f} s {count / seconds:10.0f} keys/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument(
        "--url", default=None, help="PostgreSQL admin URL (default: SQLite)"
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_store(args.url, tmp, "a") as url_a,
        scratch_store(args.url, tmp, "b") as url_b,
    ):
        print(f"backend: {'postgres' if args.url else 'sqlite'}")
        with SecretsManager.open(url_a, master_key=KEY_A) as sm:
            started = time.perf_counter()
            seeded = sm.keys.import_secrets(lines(args.count))
            total = seeded.imported + seeded.tombstones
            report("seed (import)", total, time.perf_counter() - started)

            started = time.perf_counter()
            exported = list(sm.keys.export_secrets(plaintext=True))
            report("export", len(exported), time.perf_counter() - started)

            with SecretsManager.open(url_b, master_key=KEY_B) as target:
                started = time.perf_counter()
                target.keys.import_secrets(exported)
                report(
                    "import into an empty store",
                    len(exported),
                    time.perf_counter() - started,
                )
                assert target.keys.describe() == sm.keys.describe()

            started = time.perf_counter()
            done = sm.rotate_master_key(KEY_B)
            report("rotate master key", done.rewrapped, time.perf_counter() - started)


if __name__ == "__main__":
    main()
