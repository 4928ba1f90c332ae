"""The strongroom command, end to end: in-process (typer runner) and as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.cli import invoke


def test_put_then_reveal_prints_the_raw_value_when_piped(home: Path) -> None:
    code, _, _ = invoke("put", "db/password", stdin="hunter2\n")
    assert code == 0

    code, out, _ = invoke("reveal", "db/password")

    assert (code, out) == (0, "hunter2")


def test_embedded_default_generates_a_private_master_key_when_first_used(
    home: Path,
) -> None:
    code, _, err = invoke("put", "x", stdin="v")

    assert code == 0
    key_file = home / "master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "back it up" in err


def test_json_output_is_one_document_when_json_is_given(home: Path) -> None:
    invoke("put", "a", "-n", "team-a", stdin="v1")
    invoke("put", "a", "-n", "team-a", stdin="v2")

    code, out, _ = invoke("list", "-n", "team-a", "--json")
    assert code == 0
    page = json.loads(out)
    assert [(s["name"], s["version"]) for s in page["items"]] == [("a", 2)]
    assert "value" not in page["items"][0]

    code, out, _ = invoke("versions", "a", "-n", "team-a", "--json")
    assert [v["version"] for v in json.loads(out)] == [2, 1]
    code, out, _ = invoke("stats", "--json")
    assert json.loads(out)["total"] == 1


def test_exit_codes_follow_the_documented_table_when_operations_fail(
    home: Path,
) -> None:
    assert invoke("reveal", "missing")[0] == 3
    invoke("create", "svc", stdin="v")
    assert invoke("create", "svc", stdin="v")[0] == 4
    assert invoke("revoke", "svc")[0] == 0
    assert invoke("reveal", "svc")[0] == 5
    assert invoke("reinstate", "svc")[0] == 0
    assert invoke("delete", "svc", "--yes")[0] == 0
    assert invoke("reveal", "svc")[0] == 5
    assert invoke("create", "svc", stdin="v")[0] == 4
    assert invoke("put", "bad//name", stdin="v")[0] == 2
    assert invoke("no-such-command")[0] == 2


def test_errors_go_to_stderr_and_never_contain_the_value(home: Path) -> None:
    invoke("create", "svc", stdin="canary-value-123")

    code, out, err = invoke("create", "svc", stdin="canary-value-456")

    assert code == 4
    assert out == ""
    assert "svc" in err
    assert "canary" not in err


def test_delete_refuses_without_yes_when_not_on_a_terminal(home: Path) -> None:
    invoke("put", "svc", stdin="v")

    code, _, err = invoke("delete", "svc")

    assert code == 2
    assert "--yes" in err
    assert invoke("reveal", "svc")[:2] == (0, "v")


def test_rollback_and_history_tell_what_happened(home: Path) -> None:
    invoke("--actor", "alice", "put", "cfg", "--json-value", stdin='{"a": 1}')
    invoke("--actor", "bob", "put", "cfg", "--json-value", stdin='{"a": 2}')

    assert invoke("rollback", "cfg", "1")[0] == 0
    code, out, _ = invoke("reveal", "cfg")
    assert code == 0
    assert json.loads(out) == {"a": 1}
    code, out, _ = invoke("history", "cfg", "--json")
    entries = json.loads(out)
    assert [e["action"] for e in entries] == ["created", "updated", "rolled_back"]
    assert [e["actor"] for e in entries][:2] == ["alice", "bob"]


def test_a_real_subprocess_session_shreds_the_value(tmp_path: Path) -> None:
    env = {**os.environ, "STRONGROOM_HOME": str(tmp_path / "sub-home")}
    exe = [sys.executable, "-m", "strongroom"]

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*exe, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    assert run("put", "demo/token", stdin="s3cr3t").returncode == 0
    assert run("reveal", "demo/token").stdout == "s3cr3t"
    assert "demo/token" in run("list").stdout
    assert run("delete", "demo/token", "--yes").returncode == 0
    gone = run("reveal", "demo/token")
    assert gone.returncode == 5
    assert "deleted" in gone.stderr
