"""Running the strongroom command in-process, for the CLI tests."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from typer.testing import CliRunner

from strongroom.cli import app

runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run ``strongroom ARGS`` with ``stdin``: exit code, stdout, stderr."""
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@contextmanager
def spawned(
    args: list[str], env: Mapping[str, str]
) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    """``strongroom ARGS`` as a process, its stdout lines on a queue; killed at exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "strongroom", *args],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
