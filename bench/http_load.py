"""`strongroom serve` against the bare stack it is built on, under the same load.

    python bench/http_load.py [--url postgresql://postgres@127.0.0.1/postgres]
                              [--seconds 10] [--connections 16] [--workers 1 2]

Makes a scratch PostgreSQL database, seeds 1 KB secrets into strongroom and the same
rows into the bare app's table (``bench/bare_app.py``: FastAPI, uvicorn, a psycopg
pool, a constant bearer token, one prepared statement per request), starts both
with the same number of workers, and drives each route pair with the same load
generator: wrk (2 threads) where it is installed, else a built-in client of threads.
Prints req/s, p50 and p99 per route, and strongroom's ratio to the bare app.
Figures, not assertions.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from bare_app import ROW, seed
from keys_lifecycle import scratch_store

from strongroom import SecretsManager

API = "/api/v1/secrets"
SEEDED = 200
BATCH = [f"load-{i}" for i in range(10)]


@dataclass(frozen=True)
class Route:
    """One operation, as strongroom and the bare app serve it."""

    label: str
    method: str
    strongroom: str
    bare: str
    body: str | None = None  # a template with {run} {thread} {n} for creates


ROUTES = (
    Route("metadata GET", "GET", API + "/by-name/load-1", "/kv/load-1"),
    Route(
        "audited value GET", "GET", API + "/by-name/load-1/value", "/kv/load-1/value"
    ),
    Route(
        "POST create",
        "POST",
        API,
        "/kv",
        '{{"name": "new-{run}-{thread}-{n}", "value": "v"}}',
    ),
    Route(
        "batch of 10 values",
        "POST",
        API + "/batch/values",
        "/batch/values",
        json.dumps({"names": BATCH}).replace("{", "{{").replace("}", "}}"),
    ),
    Route("list page of 100", "GET", API + "?limit=100", "/kv?limit=100"),
)


@dataclass
class Result:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(argv: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    """A server process, up once /healthz (or /docs) answers, stopped at exit."""
    proc = subprocess.Popen(argv, env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


@contextmanager
def strongroom_serving(url: str, master_key: bytes) -> Iterator[str]:
    """`strongroom serve` (one worker, no access log) over ``url``, up."""
    port = free_port()
    env = {
        "STRONGROOM_DATABASE_URL": url,
        "STRONGROOM_MASTER_KEY": base64.b64encode(master_key).decode(),
    }
    argv = [sys.executable, "-m", "strongroom", "serve", "--port", str(port)]
    with server([*argv, "--no-access-log"], env, port) as base:
        yield base


def lua_script(route: Route, path: str, token: str, run: str, directory: Path) -> Path:
    """A wrk script sending ``route`` (a fresh name per create)."""
    body = "nil"
    if route.body is not None:
        template = route.body.format(run=run, thread="%d", n="%d")
        body = f"string.format({json.dumps(template)}, tid, counter)"
    script = directory / f"{abs(hash((route.label, path)))}.lua"
    script.write_text(
        f"""
wrk.method = "{route.method}"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "{path}", nil, {body})
end
"""
    )
    return script


def run_wrk(
    base: str, route: Route, path: str, token: str, args: argparse.Namespace, run: str
) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        script = lua_script(route, path, token, run, Path(tmp))
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{args.connections}",
                f"-d{args.seconds}s",
                "--latency",
                "-s",
                str(script),
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(
        rate,
        _wrk_ms(out, "50%"),
        _wrk_ms(out, "99%"),
        int(errors.group(1)) if errors else 0,
    )


def _wrk_ms(out: str, which: str) -> float:
    value, unit = re.search(rf"{which}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_threads(
    base: str, route: Route, path: str, token: str, args: argparse.Namespace, run: str
) -> Result:
    """The fallback load: one keep-alive client per connection, in threads."""
    stop = time.perf_counter() + args.seconds
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(thread: int) -> None:
        mine: list[float] = []
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        }
        with httpx.Client(base_url=base, headers=headers) as http:
            n = 0
            while time.perf_counter() < stop:
                n += 1
                body = (
                    None
                    if route.body is None
                    else route.body.format(run=run, thread=thread, n=n)
                )
                started = time.perf_counter()
                response = http.request(route.method, path, content=body)
                mine.append(time.perf_counter() - started)
                if response.status_code >= 300:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [
        threading.Thread(target=worker, args=(n,)) for n in range(args.connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    qs = statistics.quantiles(latencies, n=100)
    return Result(
        len(latencies) / args.seconds, qs[49] * 1000, qs[98] * 1000, errors[0]
    )


def measure(
    base: str, route: Route, path: str, token: str, args: argparse.Namespace, run: str
) -> Result:
    drive = run_wrk if shutil.which("wrk") and not args.no_wrk else run_threads
    return drive(base, route, path, token, args, run)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=os.environ.get("STRONGROOM_TEST_POSTGRES_URL"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--reps", type=int, default=3, help="interleaved runs per route"
    )
    parser.add_argument("--only", help="run the routes whose label contains this")
    parser.add_argument("--no-wrk", action="store_true", help="use the built-in client")
    args = parser.parse_args()
    if not args.url:
        parser.error("--url (or STRONGROOM_TEST_POSTGRES_URL) is needed: a PostgreSQL")
    key = base64.b64encode(os.urandom(32)).decode()
    bare_token = base64.urlsafe_b64encode(os.urandom(24)).decode()
    names = [f"load-{i}" for i in range(SEEDED)]
    routes = [r for r in ROUTES if not args.only or args.only in r.label]
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_store(args.url, tmp, "http") as url,
    ):
        with SecretsManager.open(url, master_key=key) as sm:
            token = sm.tokens.create(scopes=["admin"]).token
            sm.create_many([(n, ROW) for n in names])
        seed(url, names)
        driver = "wrk -t2" if shutil.which("wrk") and not args.no_wrk else "threads"
        print(
            f"\n{driver}, {args.connections} connections, {args.seconds} s per route, "
            f"PostgreSQL, {os.cpu_count()} cores\n"
        )
        print(
            "| workers | route | bare | strongroom | ratio "
            "| p50 bare / strongroom | p99 bare / strongroom |"
        )
        print("|---|---|---|---|---|---|---|")
        for workers in args.workers:
            sr_port, bare_port = free_port(), free_port()
            strongroom_cmd = [
                sys.executable,
                "-m",
                "strongroom",
                "serve",
                "--port",
                str(sr_port),
                "--no-access-log",
                "--workers",
                str(workers),
            ]
            bare_cmd = [
                sys.executable,
                os.path.join(os.path.dirname(os.path.abspath(__file__)), "bare_app.py"),
                "--port",
                str(bare_port),
                "--workers",
                str(workers),
            ]
            sr_env = {"STRONGROOM_DATABASE_URL": url, "STRONGROOM_MASTER_KEY": key}
            bare_env = {"BARE_DATABASE_URL": url, "BARE_TOKEN": bare_token}
            with (
                server(strongroom_cmd, sr_env, sr_port) as sr_base,
                server(bare_cmd, bare_env, bare_port) as bare_base,
            ):
                for route in routes:
                    bares: list[Result] = []
                    ours: list[Result] = []
                    for rep in range(args.reps):  # interleaved: drift hits both
                        run = f"w{workers}r{rep}"
                        bares.append(
                            measure(
                                bare_base,
                                route,
                                route.bare,
                                bare_token,
                                args,
                                "b" + run,
                            )
                        )
                        ours.append(
                            measure(
                                sr_base, route, route.strongroom, token, args, "s" + run
                            )
                        )
                    print(row(workers, route, bares, ours), flush=True)


def row(workers: int, route: Route, bares: list[Result], ours: list[Result]) -> str:
    """One table row: medians over the repetitions, strongroom's ratio to bare."""

    def median(results: list[Result], field: str) -> float:
        return statistics.median(getattr(r, field) for r in results)

    bare_rate, our_rate = median(bares, "rate"), median(ours, "rate")
    errors = sum(r.errors for r in bares), sum(r.errors for r in ours)
    return (
        f"| {workers} | {route.label} | {bare_rate:,.0f}/s | {our_rate:,.0f}/s | "
        f"{our_rate / bare_rate:.2f} | "
        f"{median(bares, 'p50_ms'):.1f} / {median(ours, 'p50_ms'):.1f} ms | "
        f"{median(bares, 'p99_ms'):.1f} / {median(ours, 'p99_ms'):.1f} ms"
        + (f" (errors {errors[0]}/{errors[1]})" if any(errors) else "")
        + " |"
    )


if __name__ == "__main__":
    main()
