"""A rotation hook that runs a shell command per step: what ``strongroom rotate
--command`` and the server's configured rotation use.

The pending value goes to the command's stdin only: never argv (other users see
it in ``ps``) nor the environment (inherited by every child, kept in
``/proc/PID/environ``). Exit status 0 is success.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess

from strongroom.domain.validation import Value
from strongroom.services.lifecycle import RotationHook

__all__ = ["CommandHookError", "command_hook"]

# The store's own keys are no business of a rotation script.
_WITHHELD = ("STRONGROOM_MASTER_KEY",)


class CommandHookError(Exception):
    """The rotation command failed a step (its message names how, never the value)."""


def command_hook(
    command: str, *, timeout: float | None = 300.0, namespace: str | None = None
) -> RotationHook:
    """A hook running ``sh -c command`` with ``STRONGROOM_ROTATION_STEP`` and
    ``STRONGROOM_SECRET_NAME`` (and ``STRONGROOM_SECRET_NAMESPACE``) set and the
    pending value on stdin (text as is, JSON objects as compact JSON). Its
    output goes to stderr."""

    def run(step: str, name: str, value: Value) -> None:
        env = {
            key: val for key, val in os.environ.items() if not key.startswith(_WITHHELD)
        }
        env.update(STRONGROOM_ROTATION_STEP=step, STRONGROOM_SECRET_NAME=name)
        if namespace is not None:
            env["STRONGROOM_SECRET_NAMESPACE"] = namespace
        text = value if isinstance(value, str) else json.dumps(value)
        try:
            done = subprocess.run(  # noqa: S603 - the operator's own command
                ["/bin/sh", "-c", command],
                input=text.encode(),
                env=env,
                stdout=2,
                check=False,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            msg = f"the rotation command took longer than {timeout:g} s"
            raise CommandHookError(msg) from None
        if done.returncode < 0:
            which = signal.Signals(-done.returncode).name
            msg = f"the rotation command was killed by {which}"
            raise CommandHookError(msg)
        if done.returncode != 0:
            msg = f"the rotation command exited with status {done.returncode}"
            raise CommandHookError(msg)

    return run
