"""Running the strongroom command in-process, for the CLI tests."""

from __future__ import annotations

from typer.testing import CliRunner

from strongroom.cli import app

runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run ``strongroom ARGS`` with ``stdin``: exit code, stdout, stderr."""
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr
