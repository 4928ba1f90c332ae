"""The command line as a new user meets it: options where the README puts them,
clear exit codes instead of tracebacks, audited reveals, help on every option."""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer

from strongroom.cli import app, hoist_global_options
from tests.e2e.cli import invoke

MASTER_KEY_B64 = base64.b64encode(bytes(range(32))).decode()


def test_global_options_are_accepted_after_the_subcommand_when_given(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", MASTER_KEY_B64)
    other = tmp_path / "other"
    other.mkdir()
    url = f"sqlite:///{other}/store.db"
    invoke("put", "a", stdin="v")
    code, exported, _ = invoke("export", "--plaintext")
    assert code == 0
    (tmp_path / "all.ndjson").write_text(exported)

    code, _, err = invoke(
        "import", str(tmp_path / "all.ndjson"), "--url", url, "--actor", "ops"
    )

    assert code == 0, err
    code, out, _ = invoke("history", "a", "--json", f"--url={url}")
    assert [e["actor"] for e in json.loads(out)] == ["ops"]
    assert invoke("list", "--url", url, "--json")[0] == 0


def test_global_options_stop_moving_at_a_double_dash_when_hoisted() -> None:
    assert hoist_global_options(["reveal", "x", "--url", "U"]) == [
        "--url",
        "U",
        "reveal",
        "x",
    ]
    assert hoist_global_options(["--url", "U", "list"]) == ["--url", "U", "list"]
    assert hoist_global_options(["keys", "get", "--", "--url"]) == [
        "keys",
        "get",
        "--",
        "--url",
    ]


def test_version_is_printed_when_asked(home: Path) -> None:
    code, out, _ = invoke("--version")

    assert code == 0
    assert out.startswith("strongroom ")


def test_command_line_reveals_are_audited_with_the_actor_when_read(home: Path) -> None:
    invoke("put", "db/password", stdin="hunter2")

    invoke("--actor", "ada", "reveal", "db/password")
    code, out, _ = invoke("audit", "--action", "revealed", "--json")

    assert code == 0
    entries = json.loads(out)
    assert [(e["name"], e["actor"]) for e in entries] == [("db/password", "ada")]
    assert "hunter2" not in out


@pytest.mark.parametrize("lifetime", ["3000000d", "0d", "12x", "99999999999999y"])
def test_token_lifetimes_out_of_range_exit_2_when_given(
    home: Path, lifetime: str
) -> None:
    code, _, err = invoke("token", "create", "--scope", "admin", "--expires", lifetime)

    assert code == 2
    assert "--expires" in err
    assert "Traceback" not in err


def test_tokens_can_be_bound_to_an_app_and_env_when_created(home: Path) -> None:
    code, out, _ = invoke(
        "token",
        "create",
        "--scope",
        "secrets:reveal",
        "--app",
        "billing",
        "--env",
        "prod",
        "--json",
    )

    assert code == 0
    issued = json.loads(out)
    assert (issued["app"], issued["env"]) == ("billing", "prod")
    listed = json.loads(invoke("token", "list", "--json")[1])
    assert [(t["app"], t["env"]) for t in listed] == [("billing", "prod")]


def test_sqlite_urls_with_a_missing_directory_exit_2_when_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    code, _, err = invoke("--url", "sqlite:///nowhere/x.db", "list")

    assert code == 2
    assert "does not exist" in err
    assert list(tmp_path.iterdir()) == []


def test_unreachable_databases_are_reported_fast_and_not_as_busy_when_used(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", MASTER_KEY_B64)
    started = time.monotonic()

    code, _, err = invoke("--url", "postgresql://postgres@127.0.0.1:1/x", "list")

    assert time.monotonic() - started < 5
    assert code == 1
    assert "127.0.0.1:1" in err
    assert "busy" not in err


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _commands(command, f"{prefix}{name} ")
        else:
            found.append((prefix + name, command))
    return found


def test_every_option_has_help_when_listed() -> None:
    group = typer.main.get_command(app)
    missing = [
        f"{name} {param.opts[0]}"
        for name, command in _commands(group)
        for param in command.params
        if param.param_type_name == "option" and not getattr(param, "help", None)
    ]

    assert missing == []


def test_list_help_says_it_spans_every_namespace_when_unfiltered(home: Path) -> None:
    code, out, _ = invoke("list", "--help")

    assert code == 0
    assert "every namespace" in " ".join(out.split())


def test_tables_have_column_headers_when_printed_on_a_terminal(home: Path) -> None:
    invoke("put", "db/password", stdin="v")
    leader, follower = pty.openpty()
    done = subprocess.run(
        [sys.executable, "-m", "strongroom", "list"],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "120"},
        timeout=60,
        check=False,
    )
    os.close(follower)
    shown = os.read(leader, 65536).decode(errors="replace")
    os.close(leader)

    assert done.returncode == 0, done.stderr
    for header in ("namespace", "name", "version", "status"):
        assert header in shown
    piped = invoke("list")[1]
    assert piped.startswith("\tdb/password\t1\tactive")


def test_serve_says_where_it_listens_when_started(home: Path) -> None:
    invoke("put", "a", stdin="v")
    server = subprocess.Popen(
        [sys.executable, "-m", "strongroom", "serve", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        # Wait at most 30 s for the line: a server that never says must fail, not hang.
        ready, _, _ = select.select([server.stderr], [], [], 30)
        line = server.stderr.readline() if ready else ""
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert line.startswith("strongroom: serving http://127.0.0.1:")
    assert "/api/v1/secrets" in line
