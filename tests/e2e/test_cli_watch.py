"""`strongroom watch`: changes printed as they commit, resumable by position,
ended by SIGTERM or Ctrl-C with exit status 0; bad arguments exit 2."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from strongroom import SecretsManager
from tests.conftest import MASTER_KEY
from tests.e2e.cli import invoke, spawned
from tests.e2e.test_serve import _env


def watching(
    store_url: str, *args: str
) -> AbstractContextManager[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    """`strongroom watch ARGS` with its stdout lines on a queue."""
    return spawned(["watch", *args], _env(store_url))


def test_watch_prints_each_change_as_it_commits_when_another_process_writes(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.create("before", "v")
        start = sm.log_position()
        with watching(store_url, "--json", "--after", str(start)) as (process, lines):
            sm.create("db/password", "s3cret-value")
            sm.update("db/password", value="n3w-value")
            got = [json.loads(lines.get(timeout=20)) for _ in range(2)]
            process.send_signal(signal.SIGTERM)
            assert process.wait(20) == 0

    assert [(c["name"], c["action"]) for c in got] == [
        ("db/password", "created"),
        ("db/password", "updated"),
    ]
    assert got[0]["position"] < got[1]["position"]
    assert "s3cret" not in json.dumps(got)
    assert "n3w" not in json.dumps(got)


def test_watch_prints_a_line_per_change_when_not_json(store_url: str) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY, actor="ci") as sm:
        sm.create("svc/key", "v", namespace="team-a")
        with watching(store_url, "--after", "0", "--prefix", "svc/") as (
            process,
            lines,
        ):
            line = lines.get(timeout=20)
            process.send_signal(signal.SIGINT)
            assert process.wait(20) == 0

    position, _, action, where, version, by, actor = line.split()
    assert int(position) > 0
    assert (action, where, version, by, actor) == (
        "created",
        "team-a/svc/key",
        "v1",
        "by",
        "ci",
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--after", "-1"],
        ["--after", str(2**64)],
        ["--prefix", "a\x00"],
        ["--namespace", "../x"],
    ],
)
def test_watch_exits_2_when_an_argument_is_bad(home: Path, args: list[str]) -> None:
    code, out, err = invoke("watch", *args)

    assert code == 2, (out, err)
    assert "strongroom:" in err
