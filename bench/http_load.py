"""Loopback load on `strongroom serve`: GET /by-name/{name}/value and POST /.

    python bench/http_load.py --url postgresql://postgres@127.0.0.1/postgres --seconds 10

Starts the server on a scratch store (a new PostgreSQL database, or SQLite without
--url), then drives it from a pool of client threads (httpx, keep-alive) and prints
requests/s and latency percentiles. Every reveal over HTTP is audited, so each GET
of a value also appends an event. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from itertools import count
from typing import Any

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from keys_lifecycle import scratch_store

from strongroom import SecretsManager

API = "/api/v1/secrets"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def drive(
    base: str, token: str, seconds: float, clients: int, request: Any
) -> tuple[int, list[float]]:
    stop = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(n: int) -> None:
        mine: list[float] = []
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                response = request(http, n)
                mine.append(time.perf_counter() - started)
                if response.status_code >= 400:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors[0], latencies


def report(label: str, seconds: float, errors: int, latencies: list[float]) -> None:
    qs = statistics.quantiles(latencies, n=100)
    print(
        f"{label:<34} {len(latencies) / seconds:8.0f} req/s  "
        f"p50 {qs[49] * 1000:6.1f} ms  p99 {qs[98] * 1000:6.1f} ms  errors {errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--url", default=None, help="PostgreSQL admin URL (default: SQLite)"
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    key = base64.b64encode(os.urandom(32)).decode()
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_store(args.url, tmp, "http") as url,
    ):
        with SecretsManager.open(url, master_key=key) as sm:
            token = sm.tokens.create(scopes=["admin"]).token
            sm.create("load/db-password", "s3cr3t-value")
        port = free_port()
        env = {
            **os.environ,
            "STRONGROOM_DATABASE_URL": url,
            "STRONGROOM_MASTER_KEY": key,
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "strongroom",
                "serve",
                "--port",
                str(port),
                "--no-access-log",
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    httpx.get(base + "/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            print(
                f"backend: {'postgres' if args.url else 'sqlite'}, {args.clients} clients"
            )
            errors, lat = drive(
                base,
                token,
                args.seconds,
                args.clients,
                lambda http, n: http.get(API + "/by-name/load/db-password/value"),
            )
            report("GET /by-name/{name}/value", args.seconds, errors, lat)
            names = count()
            errors, lat = drive(
                base,
                token,
                args.seconds,
                args.clients,
                lambda http, n: http.post(
                    API, json={"name": f"load/new-{n}-{next(names)}", "value": "v"}
                ),
            )
            report("POST /", args.seconds, errors, lat)
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
