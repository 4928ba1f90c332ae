"""``strongroom run`` (secrets injected into a command's environment, restarted
when they change) and ``strongroom env`` (the same mapping, printed)."""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from strongroom import (
    Action,
    Change,
    Injection,
    SecretsManager,
    StoreUnavailableError,
    StrongroomError,
)
from strongroom.cli.base import _exit_code, _fail, _manager, app, state
from strongroom.cli.io import _open_output
from strongroom.cli.supervisor import FORWARDED, Child
from strongroom.domain.errors import describe
from strongroom.errors import EXIT_GONE
from strongroom.services.feed import Follower

Prefixes = Annotated[
    list[str] | None,
    typer.Option("--prefix", help="Inject every live secret under this prefix."),
]
Names = Annotated[
    list[str] | None,
    typer.Option("--name", help="Inject NAME, NAME=VAR, NAME#field or NAME#field=VAR."),
]
Ns = Annotated[
    str | None, typer.Option("--namespace", "-n", help="The secrets' namespace.")
]
AppOption = Annotated[str | None, typer.Option("--app", help="Reveal as this app.")]
EnvOption = Annotated[str | None, typer.Option("--env", help="Reveal as this env.")]
Expand = Annotated[
    bool, typer.Option("--expand", help="Resolve ${name} references in values.")
]
_ENDING = {
    Action.REVOKED: "was revoked",
    Action.DELETED: "was deleted",
    Action.DELETION_SCHEDULED: "is scheduled for deletion",
}
_KEPT_BY_PRISTINE = ("PATH", "HOME")
_REINJECT_TRIES = 5


def _selection(
    namespace: str | None,
    prefixes: list[str] | None,
    names: list[str] | None,
    app_name: str | None,
    env: str | None,
    *,
    expand: bool,
) -> dict[str, Any]:
    """The options of ``sm.environment`` that ``run`` and ``env`` share."""
    return {
        "namespace": namespace,
        "prefixes": prefixes or (),
        "names": names or (),
        "app": app_name,
        "env": env,
        "expand": expand,
    }


def _inject(sm: SecretsManager, options: dict[str, Any]) -> Injection:
    return sm.environment(actor=state.actor, **options)


@app.command(
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True}
)
def run(
    command: Annotated[list[str], typer.Argument(help="The command, after --.")],
    namespace: Ns = None,
    prefix: Prefixes = None,
    name: Names = None,
    app_name: AppOption = None,
    env: EnvOption = None,
    expand: Expand = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Restart the command when they change.")
    ] = False,
    grace: Annotated[
        float,
        typer.Option("--grace", min=0, max=3600, help="Seconds from SIGTERM to KILL."),
    ] = 10.0,
    mask: Annotated[
        bool, typer.Option("--mask", help="Mask injected values in its output.")
    ] = False,
    pristine: Annotated[
        bool, typer.Option("--pristine", help="Start from PATH and HOME only.")
    ] = False,
) -> None:
    """Run a command with secrets as environment variables; its exit status is
    the command's (each injection is an audited reveal)."""
    options = _selection(namespace, prefix, name, app_name, env, expand=expand)
    base = (
        {k: os.environ[k] for k in _KEPT_BY_PRISTINE if k in os.environ}
        if pristine
        else dict(os.environ)
    )
    with _manager() as sm:
        injection = _inject(sm, options)  # errors exit through _manager's table
        child = Child(command, base, grace=grace, mask=mask)
        stopping = threading.Event()

        def forward(signum: int, frame: object) -> None:
            del frame
            stopping.set()
            child.send(signum)

        previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
        try:
            _started(child, injection, command[0])
            status = (
                _supervise(sm, child, injection, options, stopping)
                if watch
                else child.wait()
            )
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    raise typer.Exit(status)


def _supervise(
    sm: SecretsManager,
    child: Child,
    injection: Injection,
    options: dict[str, Any],
    stopping: threading.Event,
) -> int:
    """Keep the command running on current values; its status when it ends."""
    changes: queue.Queue[Change] = queue.Queue()
    with Follower(sm.watch, changes.put, after=injection.position):
        while True:
            status = child.poll()
            if status is not None:
                return status
            first = injection.first_to_expire()
            if (
                first is not None
                and first.expires_at is not None
                and first.expires_at <= datetime.now(UTC)
                and not stopping.is_set()
            ):
                child.stop()
                where = describe(first.name, first.namespace)
                _fail(f"secret {where} has expired: the command was stopped", EXIT_GONE)
            try:
                change = changes.get(timeout=0.2)
            except queue.Empty:
                continue
            if change.secret_id not in injection.watched or stopping.is_set():
                continue
            ending = _ENDING.get(change.action)
            if ending is not None:
                child.stop()
                where = describe(change.name or str(change.secret_id), change.namespace)
                _fail(f"secret {where} {ending}: the command was stopped", EXIT_GONE)
            try:
                fresh = _reinject(sm, options)
            except StrongroomError as exc:
                child.stop()
                _fail(f"{exc}: the command was stopped", _exit_code(exc))
            if fresh.variables != injection.variables:
                child.stop()
                _started(child, fresh, "the command")
            injection = fresh


def _reinject(sm: SecretsManager, options: dict[str, Any]) -> Injection:
    """The new values; a dropped connection is tried again a few times first
    (the command keeps running meanwhile, on the values it has)."""
    for attempt in range(_REINJECT_TRIES):
        try:
            return _inject(sm, options)
        except StoreUnavailableError:
            if attempt == _REINJECT_TRIES - 1:
                raise
            time.sleep(1.0)
    raise AssertionError  # unreachable: the last attempt returns or raises


def _started(child: Child, injection: Injection, what: str) -> None:
    """Start the command; a missing or unrunnable one exits as a shell's would."""
    try:
        child.start(injection.variables)
    except FileNotFoundError:
        _fail(f"{what}: command not found", 127)
    except PermissionError:
        _fail(f"{what}: permission denied", 126)


@app.command("env")
def env_command(
    namespace: Ns = None,
    prefix: Prefixes = None,
    name: Names = None,
    app_name: AppOption = None,
    env: EnvOption = None,
    expand: Expand = False,
    output_format: Annotated[
        str,
        typer.Option("--format", help="dotenv (for docker --env-file), json or shell."),
    ] = "dotenv",
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Write to this new file (mode 0600)."),
    ] = None,
) -> None:
    """Print the variables `run` would inject (an audited reveal of each)."""
    formats = {"dotenv": _dotenv, "json": _json, "shell": _shell}
    if output_format not in formats:
        _fail("--format: expected dotenv, json or shell", 2)
    options = _selection(namespace, prefix, name, app_name, env, expand=expand)
    if output is None and sys.stdout.isatty():
        sys.stderr.write("strongroom: printing secret values to the terminal\n")
    with _manager() as sm:
        injection = _inject(sm, options)  # errors exit through _manager's table
    with _open_output(output) as out:
        out.write(formats[output_format](injection.variables))


def _dotenv(variables: dict[str, str]) -> str:
    # Plain KEY=value is what docker --env-file reads; a value it would garble
    # (line breaks, quotes, edge spaces) is double-quoted, as dotenv files allow.
    lines = []
    for key, value in sorted(variables.items()):
        text = value
        if any(c in value for c in "\n\r\"'\\") or value != value.strip():
            escaped = (
                value.replace("\\", "\\\\")
                .replace('"', '\\"')
                .replace("\n", "\\n")
                .replace("\r", "\\r")
            )
            text = f'"{escaped}"'
        lines.append(f"{key}={text}\n")
    return "".join(lines)


def _json(variables: dict[str, str]) -> str:
    return json.dumps(variables, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _shell(variables: dict[str, str]) -> str:
    # Single quotes keep everything literal; a quote itself is closed, escaped
    # and reopened.
    return "".join(
        "export {}='{}'\n".format(key, value.replace("'", "'\\''"))
        for key, value in sorted(variables.items())
    )
