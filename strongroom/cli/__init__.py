"""The ``strongroom`` command: secrets from the shell.

Values are read from stdin when it is piped, else from a hidden prompt - never
from argv, where other users and shell history could see them. Exit codes:
0 ok, 1 error, 2 usage, 3 not found, 4 conflict, 5 deleted/revoked/expired.
``--url`` and ``--actor`` may come before or after the subcommand.

Modules: ``base`` (the app, global options, errors to exit codes), ``io`` (output
and input), ``secrets``, ``records``, ``keys``, ``transfer``, ``admin`` and ``run`` (the
commands, by what they act on; ``run`` with ``supervisor`` and ``masking``).
"""

from __future__ import annotations

# Importing the command modules registers their commands on ``app``.
from strongroom.cli import (
    admin,
    generate,
    keys,
    lifecycle,
    records,
    run,
    secrets,
    transfer,
)
from strongroom.cli.base import app, hoist_global_options
from strongroom.errors import EXIT_ERROR

__all__ = ["app", "hoist_global_options", "main"]
_COMMANDS = (secrets, lifecycle, records, keys, transfer, admin, run, generate)


def main() -> None:
    """Entry point of the ``strongroom`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(EXIT_ERROR) from None
