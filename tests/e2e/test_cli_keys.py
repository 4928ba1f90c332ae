"""The key commands and master-key rotation from the shell, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from strongroom import SecretsManager
from tests.e2e.cli import invoke

OLD = base64.b64encode(bytes(range(32))).decode()
NEW = base64.b64encode(bytes(range(1, 33))).decode()


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch, store_url: str) -> str:
    monkeypatch.setenv("STRONGROOM_DATABASE_URL", store_url)
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", OLD)
    return store_url


def test_keys_set_get_delete_follow_resolve_semantics_when_used_from_the_shell(
    keyed: str,
) -> None:
    assert invoke("keys", "set", "user-1", stdin="material-1")[0] == 0
    assert invoke("keys", "get", "user-1") == (0, "material-1\n", "")

    code, _, err = invoke("keys", "set", "user-1", stdin="again")
    assert code == 4
    assert "used before" in err
    assert invoke("keys", "delete", "user-1")[0] == 2  # no --yes off a terminal
    assert invoke("keys", "delete", "user-1", "--yes")[0] == 0
    assert invoke("keys", "get", "user-1")[0] == 3
    code, out, _ = invoke("keys", "describe", "--json")
    assert json.loads(out) == {
        "secret_count": 1,
        "set_secret_count": 0,
        "deleted_secret_count": 1,
    }


def test_keys_export_needs_plaintext_and_imports_into_another_store_when_given(
    keyed: str, other_store_url: str, tmp_path: Path
) -> None:
    for i in range(3):
        invoke("keys", "set", f"agg-{i}", stdin=f"k{i}")
    invoke("keys", "delete", "agg-1", "--yes")

    code, _, err = invoke("keys", "export")
    assert code == 2
    assert "plaintext" in err

    target = tmp_path / "keys.ndjson"
    assert invoke("keys", "export", "--plaintext", "-o", str(target))[0] == 0
    assert target.stat().st_mode & 0o777 == 0o600
    assert [json.loads(line)["secret"] for line in target.read_text().splitlines()] == [
        "k0",
        None,
        "k2",
    ]
    code, out, _ = invoke(
        "--url", other_store_url, "keys", "import", str(target), "--json"
    )
    assert (code, json.loads(out)) == (0, {"imported": 2, "tombstones": 1})
    code, _, err = invoke("--url", other_store_url, "keys", "import", str(target))
    assert code == 4
    assert "used before" in err


def test_sealed_export_round_trips_when_a_transport_key_file_is_given(
    keyed: str, other_store_url: str, tmp_path: Path
) -> None:
    invoke("keys", "set", "agg", stdin="sealed-canary")
    transport = tmp_path / "transport.key"
    transport.write_text(base64.b64encode(os.urandom(32)).decode())

    code, out, _ = invoke("keys", "export", "--transport-key-file", str(transport))

    assert code == 0
    assert "sealed-canary" not in out
    code, _, _ = invoke(
        "--url",
        other_store_url,
        "keys",
        "import",
        "-",
        "--transport-key-file",
        str(transport),
        stdin=out,
    )
    assert code == 0
    assert (
        invoke("--url", other_store_url, "keys", "get", "agg")[1] == "sealed-canary\n"
    )


def test_rotate_master_key_rewraps_everything_and_says_the_old_key_may_go_when_done(
    keyed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke("put", "db/password", stdin="hunter2")
    invoke("keys", "set", "agg", stdin="k")
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", NEW)
    assert invoke("reveal", "db/password")[0] == 1  # the new key alone is refused
    monkeypatch.setenv("STRONGROOM_MASTER_KEY_PREVIOUS", OLD)

    code, _, err = invoke("rotate-master-key")

    assert code == 0
    assert "re-wrapped 3 keys" in err
    assert "destroy the old key" in err
    monkeypatch.delenv("STRONGROOM_MASTER_KEY_PREVIOUS")
    assert invoke("reveal", "db/password")[1] == "hunter2"
    code, out, _ = invoke("rotate-master-key", "--json")
    assert (code, json.loads(out)["rewrapped"]) == (0, 0)


def test_rotation_in_a_subprocess_prints_no_progress_bar_when_piped(
    sqlite_url: str, tmp_path: Path
) -> None:
    with SecretsManager.open(sqlite_url, master_key=OLD) as sm:
        sm.create("x", "y")
    env = {
        **os.environ,
        "STRONGROOM_DATABASE_URL": sqlite_url,
        "STRONGROOM_MASTER_KEY": NEW,
        "STRONGROOM_MASTER_KEY_PREVIOUS": OLD,
    }
    done = subprocess.run(
        [sys.executable, "-m", "strongroom", "rotate-master-key", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rewrapped"] == 2
    assert done.stderr == ""
