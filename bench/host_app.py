"""A host eventsourcing application through strongroom's shredding, beside its anchors.

    python bench/host_app.py [--url postgresql://postgres@127.0.0.1/postgres]
                             [--backend postgres|sqlite] [--ops N] [--reps R] [--quick]

Side by side in one process and one run, each variant on a fresh database of its
own (PostgreSQL: new databases made from --url; SQLite: new files):

- ``plain``: eventsourcing, no cipher;
- ``AESCipher``: eventsourcing with its stock cipher (one key for everything);
- ``same db``: ``PERSISTENCE_MODULE=strongroom.shredding.<backend>``, the keys in
  the application's own database (one transaction per first save);
- ``separate db``: the same module with ``STRONGROOM_DATABASE_URL`` elsewhere;
- ``topics``: ``MAPPER_TOPIC``/``CIPHER_TOPIC`` over eventsourcing's own module
  (the configuration before the shredding modules existed).

Operations on an ``Account`` aggregate: save a new one with 10 events, save one
event to an existing one (fetched beforehand), get one of 10 events, get one of 100
events. Repetitions are interleaved across variants; each cell is the median rate
with the min-max in brackets, then ratios to AESCipher and to plain. Figures, not
assertions.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from uuid import UUID

sys.path.insert(0, os.path.dirname(__file__))

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from keys_lifecycle import eventsourcing_env, scratch_store

from strongroom.shredding import CIPHER_TOPIC, MAPPER_TOPIC, close_key_stores

VARIANTS = ("plain", "AESCipher", "same db", "separate db", "topics")
OPERATIONS = ("save 10 events (new)", "save 1 event", "get 10 events", "get 100 events")


class Account(Aggregate):
    """A bank account: personal data in its events."""

    @event("Opened")
    def __init__(self, owner: str, email: str) -> None:
        self.owner = owner
        self.email = email
        self.balance = 0

    @event("Credited")
    def credit(self, amount: int) -> None:
        self.balance += amount


def variant_env(variant: str, own: str, elsewhere: str, backend: str) -> dict[str, str]:
    """The application's environment for one variant."""
    env = eventsourcing_env(own)
    master = base64.b64encode(os.urandom(32)).decode()
    if variant == "AESCipher":
        env["CIPHER_TOPIC"] = "eventsourcing.cipher:AESCipher"
        env["CIPHER_KEY"] = master
    elif variant != "plain":
        env["STRONGROOM_MASTER_KEY"] = master
        if variant == "topics":
            env |= {"MAPPER_TOPIC": MAPPER_TOPIC, "CIPHER_TOPIC": CIPHER_TOPIC}
            env["STRONGROOM_DATABASE_URL"] = own if backend == "postgres" else elsewhere
        else:
            env["PERSISTENCE_MODULE"] = f"strongroom.shredding.{backend}"
            if variant == "separate db":
                env["STRONGROOM_DATABASE_URL"] = elsewhere
    return env


def rate(count: int, action: Callable[[int], object]) -> float:
    """Operations per second of ``action(i)`` for i in range(count)."""
    started = time.perf_counter()
    for i in range(count):
        action(i)
    return count / (time.perf_counter() - started)


def new_account(events: int) -> Account:
    account = Account(owner="Ada Lovelace", email="ada@example.com")
    for amount in range(events - 1):
        account.credit(amount)
    return account


def workload(app: Application[UUID], ops: int) -> dict[str, float]:
    """One repetition of every operation on ``app``: rates per second."""
    rates: dict[str, float] = {}
    rates[OPERATIONS[0]] = rate(ops, lambda _: app.save(new_account(10)))
    existing = [new_account(1) for _ in range(ops)]
    app.save(*existing)
    fetched = [app.repository.get(a.id) for a in existing]

    def save_one(i: int) -> None:
        fetched[i].credit(1)
        app.save(fetched[i])

    rates[OPERATIONS[1]] = rate(ops, save_one)
    tens = [new_account(10) for _ in range(ops)]
    app.save(*tens)
    rates[OPERATIONS[2]] = rate(ops, lambda i: app.repository.get(tens[i].id))
    hundreds = [new_account(100) for _ in range(max(ops // 4, 1))]
    app.save(*hundreds)
    rates[OPERATIONS[3]] = rate(
        ops, lambda i: app.repository.get(hundreds[i % len(hundreds)].id)
    )
    return rates


@contextmanager
def databases(admin: str | None, tmp: str, label: str) -> Iterator[tuple[str, str]]:
    """The variant's own database and a second one (the separate key store)."""
    with (
        scratch_store(admin, tmp, label.replace(" ", "_")) as own,
        scratch_store(admin, tmp, label.replace(" ", "_") + "_keys") as elsewhere,
    ):
        yield own, elsewhere


def run(backend: str, admin: str | None, ops: int, reps: int) -> None:
    """Every variant and operation on one backend; prints the table."""
    results: dict[str, dict[str, list[float]]] = {
        v: {o: [] for o in OPERATIONS} for v in VARIANTS
    }
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        apps: dict[str, Application[UUID]] = {}
        for variant in VARIANTS:
            own, elsewhere = stack.enter_context(databases(admin, tmp, variant))
            apps[variant] = Application[UUID](
                env=variant_env(variant, own, elsewhere, backend)
            )
        try:
            for variant in VARIANTS:  # warm up: connections, prepared statements
                workload(apps[variant], 20)
            for _ in range(reps):
                for variant in VARIANTS:
                    for op, value in workload(apps[variant], ops).items():
                        results[variant][op].append(value)
        finally:
            for app in apps.values():
                app.close()
            close_key_stores()
    report(backend, results, ops, reps)


def report(
    backend: str, results: dict[str, dict[str, list[float]]], ops: int, reps: int
) -> None:
    """One markdown table: rate per variant, and the ratios that targets name."""
    print(f"\n{backend}: {ops} operations x {reps} repetitions (median, min-max)\n")
    print(
        "| operation | "
        + " | ".join(VARIANTS)
        + " | same db / AESCipher | same db / plain |"
    )
    print("|---" * (len(VARIANTS) + 3) + "|")
    for op in OPERATIONS:
        medians = {v: statistics.median(results[v][op]) for v in VARIANTS}
        cells = [
            f"{medians[v]:,.0f}/s ({min(results[v][op]):,.0f}-{max(results[v][op]):,.0f})"
            for v in VARIANTS
        ]
        ratio_stock = medians["same db"] / medians["AESCipher"]
        ratio_plain = medians["same db"] / medians["plain"]
        print(
            f"| {op} | "
            + " | ".join(cells)
            + f" | {ratio_stock:.2f} | {ratio_plain:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=os.environ.get("STRONGROOM_TEST_POSTGRES_URL"))
    parser.add_argument("--backend", choices=["postgres", "sqlite"], action="append")
    parser.add_argument("--ops", type=int, default=500)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    if args.quick:
        args.ops, args.reps = 50, 1
    backends = args.backend or (["postgres", "sqlite"] if args.url else ["sqlite"])
    for backend in backends:
        if backend == "postgres" and not args.url:
            parser.error(
                "--url (or STRONGROOM_TEST_POSTGRES_URL) is needed for postgres"
            )
        run(backend, args.url if backend == "postgres" else None, args.ops, args.reps)


if __name__ == "__main__":
    main()
