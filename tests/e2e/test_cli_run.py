"""`strongroom run` and `strongroom env` as real processes: injection, the child's
exit status, refusals before anything runs, forwarded signals, masked output, and
restarts and stops on change (--watch)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from strongroom import SecretsManager
from tests.conftest import MASTER_KEY
from tests.e2e.cli import spawned
from tests.e2e.test_serve import _env

PY = sys.executable


def _run(
    store_url: str, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "strongroom", *args],
        env=_env(store_url),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def sm(store_url: str) -> Iterator[SecretsManager]:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as manager:
        yield manager


def test_run_injects_secrets_and_exits_with_the_childs_status_when_it_ends(
    store_url: str, sm: SecretsManager
) -> None:
    sm.create("db/password", "hunter2")
    sm.create("db/user", "app")
    sm.create("cfg", {"host": "db.internal", "port": 5432})
    code = (
        "import os, sys; "
        "print(os.environ['PASSWORD'], os.environ['USER'], os.environ['DB_HOST'], "
        "os.environ['KEPT']); sys.exit(7)"
    )

    done = subprocess.run(
        [
            PY,
            "-m",
            "strongroom",
            "run",
            "--prefix",
            "db/",
            "--name",
            "cfg#host=DB_HOST",
            "--",
            PY,
            "-c",
            code,
        ],
        env={**_env(store_url), "KEPT": "yes"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 7, done.stderr
    assert done.stdout.split() == ["hunter2", "app", "db.internal", "yes"]
    revealed = sorted(e.name or "" for e in sm.audit(action="revealed"))
    assert revealed == ["cfg", "db/password", "db/user"]


def test_run_starts_from_path_and_home_only_when_pristine(
    store_url: str, sm: SecretsManager
) -> None:
    sm.create("token", "t0ken")
    code = "import os; print(sorted(k for k in os.environ if k in {'KEPT','TOKEN','HOME'}))"

    done = subprocess.run(
        [
            PY,
            "-m",
            "strongroom",
            "run",
            "--pristine",
            "--name",
            "token",
            "--",
            PY,
            "-c",
            code,
        ],
        env={**_env(store_url), "KEPT": "no", "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.stdout.strip() == "['HOME', 'TOKEN']", done.stderr


@pytest.mark.parametrize(
    ("names", "why"),
    [
        (["db-password", "db/password"], "both map to DB_PASSWORD"),
        (["1password"], "not a valid name"),
        (["db/password=1X"], "invalid variable name"),
        (["missing"], "not found"),
    ],
)
def test_run_refuses_before_running_anything_when_the_mapping_is_wrong(
    store_url: str, sm: SecretsManager, tmp_path: Path, names: list[str], why: str
) -> None:
    sm.create("db-password", "a")
    sm.create("db/password", "b")
    sm.create("1password", "c")
    marker = tmp_path / "ran"
    args = [a for n in names for a in ("--name", n)]

    done = _run(store_url, "run", *args, "--", PY, "-c", f"open({str(marker)!r}, 'w')")

    assert done.returncode in {2, 3}, done.stderr
    assert why in done.stderr
    assert not marker.exists()
    assert list(sm.audit(action="revealed")) == []


def test_run_exits_127_when_the_command_does_not_exist(
    store_url: str, sm: SecretsManager
) -> None:
    sm.create("k", "s3cret-value")

    done = _run(store_url, "run", "--name", "k", "--", "no-such-command-here")

    assert done.returncode == 127
    assert "command not found" in done.stderr
    assert "s3cret" not in done.stderr
    assert "Traceback" not in done.stderr


def test_run_forwards_sigterm_and_returns_the_childs_status_when_signalled(
    store_url: str, sm: SecretsManager, tmp_path: Path
) -> None:
    sm.create("k", "v")
    marker = tmp_path / "got-term"
    code = (
        "import signal, sys, time\n"
        "def bye(*_):\n"
        f"    open({str(marker)!r}, 'w').write('term'); sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [PY, "-m", "strongroom", "run", "--name", "k", "--", PY, "-c", code],
        env=_env(store_url),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"

    process.send_signal(signal.SIGTERM)

    assert process.wait(30) == 3
    assert marker.read_text() == "term"


def test_run_masks_values_in_output_when_they_are_written_in_pieces(
    store_url: str, sm: SecretsManager
) -> None:
    sm.create("api-key", "sk_live_abcdef123456")
    code = (
        "import base64, os, sys, time\n"
        "v = os.environ['API_KEY']\n"
        "sys.stdout.write('key=' + v[:5]); sys.stdout.flush(); time.sleep(0.2)\n"
        "sys.stdout.write(v[5:] + '\\n'); sys.stdout.flush()\n"
        "print('b64=' + base64.b64encode(v.encode()).decode(), flush=True)\n"
        "print('err=' + v, file=sys.stderr, flush=True)\n"
        "print('plain line')\n"
    )

    done = _run(store_url, "run", "--mask", "--name", "api-key", "--", PY, "-c", code)

    assert done.returncode == 0, done.stderr
    assert "sk_live" not in done.stdout + done.stderr
    assert "c2tfbGl2" not in done.stdout  # base64 of "sk_liv"
    assert done.stdout.splitlines() == ["key=*****", "b64=*****", "plain line"]
    assert "err=*****" in done.stderr


def _watching(
    store_url: str, *args: str
) -> AbstractContextManager[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    return spawned(["run", "--watch", "--grace", "2", *args], _env(store_url))


_PRINT_AND_WAIT = "import os, time; print(os.environ['K'], flush=True); time.sleep(60)"


def test_run_restarts_the_command_soon_when_a_received_secret_changes(
    store_url: str, sm: SecretsManager
) -> None:
    sm.create("k", "one")
    sm.create("other", "x")
    with _watching(store_url, "--name", "k", "--", PY, "-c", _PRINT_AND_WAIT) as (
        process,
        lines,
    ):
        assert lines.get(timeout=30).strip() == "one"
        sm.update("other", value="y")  # not received: no restart
        sm.update("k", value="two")
        changed = time.monotonic()
        assert lines.get(timeout=30).strip() == "two"
        restarted = time.monotonic() - changed
        assert lines.empty()
        sm.rollback("k", 1)
        assert lines.get(timeout=30).strip() == "one"
        assert process.poll() is None

    assert restarted < 2  # the change learned, the child stopped, started, printing


@pytest.mark.parametrize(
    ("action", "said"),
    [
        ("revoke", "was revoked"),
        ("delete", "was deleted"),
        ("schedule", "is scheduled for deletion"),
    ],
)
def test_run_stops_the_command_and_exits_5_when_a_received_secret_goes(
    store_url: str, sm: SecretsManager, action: str, said: str
) -> None:
    sm.create("k", "one")
    with _watching(store_url, "--name", "k", "--", PY, "-c", _PRINT_AND_WAIT) as (
        process,
        lines,
    ):
        assert lines.get(timeout=30).strip() == "one"
        if action == "schedule":
            sm.delete("k", recovery_window=timedelta(days=7))
        else:
            getattr(sm, action)("k")
        assert process.wait(30) == 5
        assert process.stderr is not None
        err = process.stderr.read()

    assert f"'k' {said}" in err


def test_run_stops_the_command_and_exits_5_when_a_received_secret_expires(
    store_url: str, sm: SecretsManager
) -> None:
    sm.create("k", "one", expires_at=datetime.now(UTC) + timedelta(seconds=3))
    with _watching(store_url, "--name", "k", "--", PY, "-c", _PRINT_AND_WAIT) as (
        process,
        lines,
    ):
        assert lines.get(timeout=30).strip() == "one"
        assert process.wait(30) == 5
        assert process.stderr is not None
        err = process.stderr.read()

    assert "'k' has expired" in err


def test_env_prints_the_mapping_in_each_format_when_asked(
    store_url: str, sm: SecretsManager, tmp_path: Path
) -> None:
    sm.create("db/password", 'it\'s "quoted"\nand long')
    sm.create("db/user", "app")

    as_json = _run(store_url, "env", "--prefix", "db/", "--format", "json")
    shell = _run(store_url, "env", "--prefix", "db/", "--format", "shell")
    out = tmp_path / "app.env"
    dotenv = _run(store_url, "env", "--prefix", "db/", "-o", str(out))

    assert json.loads(as_json.stdout) == {
        "PASSWORD": 'it\'s "quoted"\nand long',
        "USER": "app",
    }
    evaluated = subprocess.run(
        ["bash", "-c", shell.stdout + 'printf %s "$PASSWORD"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert evaluated.stdout == 'it\'s "quoted"\nand long'
    assert dotenv.returncode == 0, dotenv.stderr
    assert out.read_text() == 'PASSWORD="it\'s \\"quoted\\"\\nand long"\nUSER=app\n'
    assert oct(out.stat().st_mode & 0o777) == oct(0o600)
    os.remove(out)


def test_run_keeps_watching_when_the_databases_connections_are_killed(
    postgres_url: str,
) -> None:
    with SecretsManager.open(postgres_url, master_key=MASTER_KEY) as sm:
        sm.create("k", "one")
        with _watching(
            postgres_url, "--name", "k", "--", PY, "-c", _PRINT_AND_WAIT
        ) as (
            process,
            lines,
        ):
            assert lines.get(timeout=30).strip() == "one"
            database = postgres_url.rsplit("/", 1)[1].split("?", maxsplit=1)[0]
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (database,),
                )
            with SecretsManager.open(postgres_url, master_key=MASTER_KEY) as fresh:
                fresh.update("k", value="two")
            assert lines.get(timeout=30).strip() == "two"
            assert process.poll() is None
