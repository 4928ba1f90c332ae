"""The lifecycle from the command line, on both backends: delete with a recovery
window, restore, purge; labels and stages; rotate --command with real processes
(the value on stdin only), resumed after a failure and after a SIGKILL."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from strongroom import SecretsManager
from tests.conftest import MASTER_KEY
from tests.e2e.cli import invoke
from tests.e2e.test_serve import _env


@pytest.fixture
def url(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store the commands act on (``--url``), with its master key set."""
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", base64.b64encode(MASTER_KEY).decode())
    return store_url


def test_delete_schedules_and_restore_cancels_when_given_a_window(url: str) -> None:
    assert invoke("put", "db/password", "--url", url, stdin="hunter2")[0] == 0

    code, out, _ = invoke(
        "delete", "db/password", "--recovery-window", "7d", "--url", url
    )
    assert (code, out) == (0, "db/password will be deleted in 7 days\n")

    code, out, err = invoke("reveal", "db/password", "--url", url)
    assert code == 5
    assert "scheduled for deletion" in err
    assert "hunter2" not in out + err
    _, listed, _ = invoke("list", "--json", "--url", url)
    (item,) = json.loads(listed)["items"]
    assert item["status"] == "pending_deletion"
    assert item["deletion_date"]
    assert invoke("restore", "db/password", "--url", url)[:2] == (
        0,
        "restored db/password\n",
    )
    assert invoke("reveal", "db/password", "--url", url)[1] == "hunter2"


@pytest.mark.parametrize("window", ["6d", "31d", "1h", "7", "soon"])
def test_delete_exits_2_and_changes_nothing_when_the_window_is_out_of_range(
    url: str, window: str
) -> None:
    invoke("put", "k", "--url", url, stdin="v")

    code, _, err = invoke("delete", "k", "--recovery-window", window, "--url", url)

    assert code == 2, err
    assert invoke("reveal", "k", "--url", url)[1] == "v"


def test_purge_shreds_what_is_due_when_given_a_moment(url: str) -> None:
    for name in ("a", "b"):
        invoke("put", name, "--url", url, stdin="v")
    invoke("delete", "a", "--recovery-window", "7d", "--url", url)
    invoke("delete", "b", "--recovery-window", "30d", "--url", url)
    moment = (datetime.now(UTC) + timedelta(days=8)).isoformat()

    assert invoke("purge", "--url", url)[:2] == (0, "")
    code, out, _ = invoke("purge", "--at", moment, "--json", "--url", url)

    assert code == 0
    assert [p["name"] for p in json.loads(out)["purged"]] == ["a"]
    assert invoke("reveal", "a", "--url", url)[0] == 5
    assert invoke("restore", "b", "--url", url)[0] == 0
    assert invoke("purge", "--at", "not-a-moment", "--url", url)[0] == 2


def test_labels_move_and_stages_show_when_set_from_the_command_line(url: str) -> None:
    invoke("put", "k", "--url", url, stdin="v1")
    invoke("put", "k", "--url", url, stdin="v2")

    assert invoke("label", "k", "1", "golden", "--url", url)[0] == 0
    assert invoke("reveal", "k", "--stage", "golden", "--url", url)[1] == "v1"
    assert invoke("reveal", "k", "--stage", "previous", "--url", url)[1] == "v1"
    _, out, _ = invoke("stages", "k", "--json", "--url", url)
    assert json.loads(out) == {"current": 2, "previous": 1, "golden": 1}
    _, out, _ = invoke("versions", "k", "--json", "--url", url)
    assert [v["stages"] for v in json.loads(out)] == [
        ["current"],
        ["golden", "previous"],
    ]
    assert invoke("unlabel", "k", "golden", "--url", url)[0] == 0
    assert invoke("reveal", "k", "--stage", "golden", "--url", url)[0] == 3
    assert invoke("unlabel", "k", "current", "--url", url)[0] == 2


def _script(tmp_path: Path, body: str) -> str:
    """A rotation command: ``body`` runs after it logs its step and stdin."""
    log = tmp_path / "steps.log"
    script = tmp_path / "hook.sh"
    script.write_text(
        "#!/bin/sh\n"
        "value=$(cat)\n"
        f'printf "%s %s %s\\n" "$STRONGROOM_ROTATION_STEP" "$STRONGROOM_SECRET_NAME"'
        f' "$value" >> {log}\n'
        f"env > {tmp_path}/env.$STRONGROOM_ROTATION_STEP\n"
        f"ps -o args= -p $$ > {tmp_path}/argv.$STRONGROOM_ROTATION_STEP\n"
        f"{body}\n"
    )
    script.chmod(0o700)
    return f"sh {script}"


def _steps(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "steps.log"
    return (
        [line.split() for line in path.read_text().splitlines()]
        if path.exists()
        else []
    )


def test_rotate_runs_the_command_per_step_with_the_value_on_stdin_when_asked(
    url: str, tmp_path: Path
) -> None:
    invoke("put", "db/password", "--url", url, stdin="old-password")
    command = _script(tmp_path, "exit 0")

    code, out, err = invoke(
        "rotate",
        "db/password",
        "--command",
        command,
        "--value",
        "--json",
        "--url",
        url,
        stdin="new-password",
    )

    assert code == 0, err
    assert json.loads(out)["version"] == 2
    assert _steps(tmp_path) == [
        ["set", "db/password", "new-password"],
        ["test", "db/password", "new-password"],
    ]
    for step in ("set", "test"):
        assert "new-password" not in (tmp_path / f"env.{step}").read_text()
        assert "new-password" not in (tmp_path / f"argv.{step}").read_text()
        assert "STRONGROOM_MASTER_KEY" not in (tmp_path / f"env.{step}").read_text()
    assert "new-password" not in out + err
    assert invoke("reveal", "db/password", "--url", url)[1] == "new-password"
    assert invoke("reveal", "db/password", "--stage", "previous", "--url", url)[1] == (
        "old-password"
    )


def test_rotate_resumes_at_the_failed_step_when_the_command_failed(
    url: str, tmp_path: Path
) -> None:
    invoke("put", "k", "--url", url, stdin="old")
    failing = _script(
        tmp_path, '[ "$STRONGROOM_ROTATION_STEP" = test ] && exit 3; exit 0'
    )

    code, _, err = invoke("rotate", "k", "--command", failing, "--url", url)

    assert code == 1
    assert "step 'test'" in err
    assert "exited with status 3" in err
    assert invoke("reveal", "k", "--url", url)[1] == "old"
    pending = invoke("reveal", "k", "--stage", "pending", "--url", url)[1]
    assert pending not in err

    code, _, err = invoke(
        "rotate", "k", "--command", _script(tmp_path, "exit 0"), "--url", url
    )

    assert code == 0, err
    assert [step for step, *_ in _steps(tmp_path)] == ["set", "test", "test"]
    assert invoke("reveal", "k", "--url", url)[1] == pending


def test_rotate_resumes_after_the_process_is_killed_between_steps(
    store_url: str, tmp_path: Path
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.create("k", "old")
    # The test step kills the rotating process itself (SIGKILL: no cleanup): the
    # first ancestor that is not a shell.
    killer = _script(
        tmp_path,
        '[ "$STRONGROOM_ROTATION_STEP" = test ] || exit 0\n'
        "p=$PPID\n"
        'while [ "$(ps -o comm= -p "$p")" = sh ]; do p=$(ps -o ppid= -p "$p" | tr -d " "); done\n'
        'kill -9 "$p"',
    )
    crashed = subprocess.run(
        [sys.executable, "-m", "strongroom", "rotate", "k", "--command", killer],
        env=_env(store_url),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == -9

    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        assert sm.reveal("k") == "old"
        assert [e.action for e in sm.history("k")][-2:] == [
            "rotation_started",
            "rotation_step",
        ]
        pending = sm.reveal("k", stage="pending")

    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "strongroom",
            "rotate",
            "k",
            "--command",
            _script(tmp_path, "exit 0"),
        ],
        env=_env(store_url),
        capture_output=True,
        timeout=120,
        check=False,
    )

    assert resumed.returncode == 0, resumed.stderr
    assert [step for step, *_ in _steps(tmp_path)] == ["set", "test", "test"]
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        assert sm.reveal("k") == pending
        assert [(v.version, v.stages) for v in sm.versions("k")] == [
            (2, ("current",)),
            (1, ("previous",)),
        ]


def test_update_sets_a_rotation_interval_and_list_shows_what_is_due_when_asked(
    url: str,
) -> None:
    invoke("put", "k", "--url", url, stdin="v")

    code, out, err = invoke(
        "update", "k", "--rotation-interval", "30d", "--json", "--url", url
    )

    assert code == 0, err
    shown = json.loads(out)
    assert shown["next_rotation_at"]
    assert (
        invoke("list", "--rotation-due", "--json", "--url", url)[1].count('"name"') == 0
    )
    assert invoke("update", "k", "--rotation-interval", "5m", "--url", url)[0] == 2
    assert invoke("update", "k", "--rotation-interval", "none", "--url", url)[0] == 0
