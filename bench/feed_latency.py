"""How soon a committed change reaches the change feed.

    python bench/feed_latency.py [--url postgresql://postgres@127.0.0.1/postgres]
                                 [--changes 300] [--sqlite]

A writer (its own manager, its own connections) creates secrets at random
intervals of 5-50 ms; a follower receives them through ``sm.watch()`` in the same
process, and another through ``GET /api/v1/secrets/changes`` (Server-Sent Events)
from a `strongroom serve` process. The delay of each change is from the moment its
``create`` returned (its commit acknowledged) to the moment the follower got it.
Prints p50, p99 and max per path. Figures, not assertions; the targets are p50
<= 100 ms and p99 <= 1 s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from http_load import strongroom_serving
from keys_lifecycle import scratch_store

from strongroom import SecretsManager

KEY = os.urandom(32)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _library_follower(
    url: str, seen: dict[str, float], ready: threading.Event
) -> Callable[[], None]:
    sm = SecretsManager.open(url, master_key=KEY)
    watch = sm.watch()

    def follow() -> None:
        ready.set()
        for change in watch:
            if change.name is not None:
                seen.setdefault(change.name, time.monotonic())

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()

    def stop() -> None:
        watch.close()
        thread.join(5)
        sm.close()

    return stop


def _sse_follower(
    base: str, token: str, seen: dict[str, float], ready: threading.Event
) -> Callable[[], None]:
    client = httpx.Client(base_url=base, timeout=httpx.Timeout(10, read=None))
    stopping = threading.Event()

    def follow() -> None:
        with client.stream(
            "GET",
            "/api/v1/secrets/changes",
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            ready.set()
            try:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        name = json.loads(line[6:]).get("name")
                        if name is not None:
                            seen.setdefault(name, time.monotonic())
            except httpx.HTTPError:
                if not stopping.is_set():
                    raise

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        client.close()
        thread.join(5)

    return stop


def measure(url: str, changes: int) -> dict[str, list[float]]:
    """Delays (s) per follower of ``changes`` creates."""
    with SecretsManager.open(url, master_key=KEY) as admin:
        token = admin.tokens.create(scopes=["secrets:read"]).token
    seen: dict[str, dict[str, float]] = {"library watch": {}, "HTTP SSE": {}}
    committed: dict[str, float] = {}
    with strongroom_serving(url, KEY) as base:
        ready = [threading.Event(), threading.Event()]
        stops = [
            _library_follower(url, seen["library watch"], ready[0]),
            _sse_follower(base, token, seen["HTTP SSE"], ready[1]),
        ]
        for event in ready:
            event.wait(30)
        time.sleep(0.5)  # the stream has read its first page
        with SecretsManager.open(url, master_key=KEY) as writer:
            for i in range(changes):
                name = f"feed/{i}"
                writer.create(name, "v")
                committed[name] = time.monotonic()
                time.sleep(random.uniform(0.005, 0.05))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
            len(s) < changes for s in seen.values()
        ):
            time.sleep(0.1)
        for stop in stops:
            stop()
    return {
        label: [
            max(0.0, got[name] - committed[name]) for name in committed if name in got
        ]
        + [float("inf")] * (changes - len(got))
        for label, got in seen.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "STRONGROOM_TEST_POSTGRES_URL",
            "postgresql://postgres@127.0.0.1:5432/postgres",
        ),
    )
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--sqlite", action="store_true", help="an SQLite file instead")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_store(None if args.sqlite else args.url, tmp, "feed") as url,
    ):
        delays = measure(url, args.changes)
    backend = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"change feed delay after commit, {backend}, {args.changes} changes")
    print("| path | p50 | p99 | max | received |")
    print("|---|---|---|---|---|")
    for label, values in delays.items():
        got = sum(1 for v in values if v != float("inf"))
        print(
            f"| {label} | {_quantile(values, 0.5) * 1000:.1f} ms "
            f"| {_quantile(values, 0.99) * 1000:.1f} ms "
            f"| {max(values) * 1000:.1f} ms | {got}/{len(values)} |"
        )


if __name__ == "__main__":
    main()
