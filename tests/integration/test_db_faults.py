"""Database faults on a throwaway PostgreSQL cluster: restarts, killed backends.

The tests run their own cluster (initdb and pg_ctl from the installed PostgreSQL, on
a free loopback port) so they can stop it and kill its backends. Operations fail
with StoreUnavailableError (nothing written) or CommitUnknownError (a write that
may have committed), never anything else; the pools recover; and a write retried
with its request_id after an unknown outcome is never made twice.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from strongroom import (
    CommitUnknownError,
    SecretNotFoundError,
    SecretsManager,
    StoreUnavailableError,
)
from tests.conftest import MASTER_KEY

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Cluster:
    """A PostgreSQL cluster of our own, stopped and started at will."""

    def __init__(self, root: Path) -> None:
        bindir = _bindir()
        if bindir is None:
            if os.environ.get("CI"):
                pytest.fail("CI: PostgreSQL server binaries (initdb, pg_ctl) not found")
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.bindir = bindir
        self.data, self.log = root / "data", root / "server.log"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        if os.geteuid() == 0:
            # The server refuses to run as root.
            shutil.chown(root, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        # A short connect timeout: operations on a stopped server fail in seconds.
        self.url = (
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres?connect_timeout=1"
        )

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} "
            "-c fsync=off -c max_connections=60"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def database(self) -> str:
        """The URL of a new, empty database in this cluster."""
        name = f"faults_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url.replace("/postgres?", f"/{name}?")

    @property
    def admin_url(self) -> str:
        return self.url.split("?")[0]

    def terminate_backends(self) -> int:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            (killed,) = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone() or (0,)
        return int(killed)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Not under pytest's temporary directory: the server's user must reach it.
    root = Path(tempfile.mkdtemp(prefix="strongroom-cluster-"))
    try:
        server = Cluster(root)
        server.start()
        try:
            yield server
        finally:
            server.stop("immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_operations_fail_clearly_and_recover_when_the_server_restarts(
    cluster: Cluster,
) -> None:
    with SecretsManager.open(cluster.database(), master_key=MASTER_KEY) as sm:
        sm.create("before", "v1")
        cluster.stop()
        try:
            for action in (
                lambda: sm.reveal("before"),
                lambda: sm.create("during", "v"),
                sm.stats,
            ):
                with pytest.raises(StoreUnavailableError) as caught:
                    action()
                assert "v1" not in str(caught.value)
        finally:
            cluster.start()
        # The pools reconnect: no restart of the manager needed.
        assert sm.reveal("before") == "v1"
        sm.create("after", "v2")
        assert sm.reveal("after") == "v2"
        with pytest.raises(SecretNotFoundError):
            sm.reveal("during")
        assert sm.stats().total == 2


def test_no_write_is_lost_or_made_twice_when_backends_are_killed_under_load(
    cluster: Cluster,
) -> None:
    outcomes: dict[str, str] = {}
    stop = threading.Event()

    with SecretsManager.open(cluster.database(), master_key=MASTER_KEY) as sm:

        def write(worker: int) -> None:
            i = 0
            while not stop.is_set():
                name = f"w{worker}/{i}"
                try:
                    sm.create(name, f"value-{name}", request_id=f"req-{name}")
                    outcomes[name] = "ok"
                except CommitUnknownError:
                    outcomes[name] = "unknown"
                except StoreUnavailableError:
                    outcomes[name] = "unavailable"
                except Exception as exc:
                    outcomes[name] = (
                        f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
                    )
                i += 1

        workers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for worker in workers:
            worker.start()
        killed = 0
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            time.sleep(0.05)
            killed += cluster.terminate_backends()
        stop.set()
        for worker in workers:
            worker.join(60)

        assert killed > 10
        print(
            f"db faults: {killed} backends killed; outcomes "
            f"{ {o: list(outcomes.values()).count(o) for o in set(outcomes.values())} }"
        )
        assert "ok" in outcomes.values()
        others = set(outcomes.values()) - {"ok", "unknown", "unavailable"}
        assert not others
        for name, outcome in outcomes.items():
            if outcome == "unavailable":
                # Nothing was written: the name is free.
                with pytest.raises(SecretNotFoundError):
                    sm.get(name)
                continue
            if outcome == "unknown":
                # The retry finds out, and never writes twice.
                sm.create(name, f"value-{name}", request_id=f"req-{name}")
            assert sm.reveal(name) == f"value-{name}"
            assert [v.version for v in sm.versions(name)] == [1]
        live = sum(1 for o in outcomes.values() if o != "unavailable")
        assert sm.stats().total == live
