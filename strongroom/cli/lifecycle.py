"""Commands of a secret's lifecycle: revoke, reinstate, delete (now or after a
recovery window), restore, purge, label, unlabel and rotate."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Annotated

import typer

from strongroom import Generate
from strongroom.cli.base import (
    AsJson,
    JsonValue,
    Name,
    Namespace,
    _checked,
    _fail,
    _parse_moment,
    _run,
    app,
)
from strongroom.cli.generate import (
    ExcludeCharacters,
    ExcludePunctuation,
    Length,
    generation,
)
from strongroom.cli.io import _confirm, _print_json, _read_value, _show, _show_secret
from strongroom.domain import validation as check
from strongroom.domain.lifecycle import check_recovery_window
from strongroom.domain.validation import Value
from strongroom.errors import EXIT_NOT_FOUND
from strongroom.rotation_hooks import command_hook


def _toggle(verb: str, name: str, namespace: str | None, as_json: bool) -> None:
    changed = _run(lambda sm: getattr(sm, verb)(name, namespace=namespace))
    if as_json:
        _print_json({"name": name, "namespace": namespace, "changed": changed})
    else:
        past = {"revoke": "revoked", "reinstate": "reinstated", "restore": "restored"}
        sys.stdout.write(
            f"{past[verb]} {name}\n" if changed else f"{name}: unchanged\n"
        )


@app.command()
def revoke(name: Name, namespace: Namespace = None, as_json: AsJson = False) -> None:
    """Refuse reveals of a secret until it is reinstated."""
    _toggle("revoke", name, namespace, as_json)


@app.command()
def reinstate(name: Name, namespace: Namespace = None, as_json: AsJson = False) -> None:
    """Allow reveals of a revoked secret again."""
    _toggle("reinstate", name, namespace, as_json)


@app.command()
def restore(name: Name, namespace: Namespace = None, as_json: AsJson = False) -> None:
    """Cancel a scheduled deletion: the secret is back with every version."""
    _toggle("restore", name, namespace, as_json)


def _window(text: str | None) -> timedelta | None:
    if text is None:
        return None
    return _checked(
        lambda: check_recovery_window(check.parse_duration(text, "--recovery-window"))
    )


@app.command()
def delete(
    name: Name,
    namespace: Namespace = None,
    recovery_window: Annotated[
        str | None,
        typer.Option(
            "--recovery-window",
            help="Schedule the deletion this far ahead (7d to 30d) instead of now;"
            " `strongroom restore` cancels it.",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: AsJson = False,
) -> None:
    """Crypto-shred a secret: every version becomes unreadable, the name stays taken."""
    window = _window(recovery_window)
    if window is None:
        _confirm(yes, f"Delete {name!r} forever? Every version becomes unreadable")
    deleted = _run(
        lambda sm: sm.delete(name, namespace=namespace, recovery_window=window)
    )
    if as_json:
        key = "deleted" if window is None else "scheduled"
        _print_json({"name": name, "namespace": namespace, key: deleted})
    elif deleted:
        when = "" if window is None else f" in {window.days} days"
        sys.stdout.write(
            f"{name} will be deleted{when}\n" if when else f"deleted {name}\n"
        )
    else:
        what = "already deleted" if window is None else "already scheduled"
        _fail(f"secret {name!r} not found (or {what})", EXIT_NOT_FOUND)


@app.command()
def purge(
    at: Annotated[
        str | None,
        typer.Option("--at", help="Purge as if it were this moment (ISO 8601)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Crypto-shred every secret whose deletion date has passed."""
    moment = _parse_moment(at, "--at")
    purged = _run(lambda sm: sm.purge_due(now=moment))
    if as_json:
        _print_json(
            {
                "purged": [
                    {"id": str(p.id), "name": p.name, "namespace": p.namespace}
                    for p in purged
                ]
            }
        )
        return
    for ref in purged:
        where = ref.name if ref.namespace is None else f"{ref.namespace}/{ref.name}"
        sys.stdout.write(f"deleted {where}\n")


Version = Annotated[int, typer.Argument(help="The version to put the label on.")]
Label = Annotated[str, typer.Argument(help="A stage: current, previous or a label.")]


@app.command()
def label(
    name: Name,
    version: Version,
    stage: Label,
    namespace: Namespace = None,
    as_json: AsJson = False,
) -> None:
    """Put a label (stage) on a version, moving it from where it was."""
    changed = _run(lambda sm: sm.label(name, version, stage, namespace=namespace))
    if as_json:
        _print_json(
            {"name": name, "version": version, "label": stage, "changed": changed}
        )
    else:
        sys.stdout.write(
            f"{stage} -> version {version}\n" if changed else "unchanged\n"
        )


@app.command()
def unlabel(
    name: Name, stage: Label, namespace: Namespace = None, as_json: AsJson = False
) -> None:
    """Take a label off its version (pending: abandon a rotation)."""
    changed = _run(lambda sm: sm.unlabel(name, stage, namespace=namespace))
    if as_json:
        _print_json({"name": name, "label": stage, "changed": changed})
    else:
        sys.stdout.write(f"removed {stage}\n" if changed else "unchanged\n")


@app.command()
def rotate(
    name: Name,
    namespace: Namespace = None,
    command: Annotated[
        str | None,
        typer.Option(
            "--command",
            help="Run per step (set, test) with STRONGROOM_ROTATION_STEP and"
            " STRONGROOM_SECRET_NAME set and the new value on stdin; exit 0 = ok.",
        ),
    ] = None,
    value_stdin: Annotated[
        bool,
        typer.Option(
            "--value", help="Read the new value from stdin instead of generating it."
        ),
    ] = False,
    json_value: JsonValue = False,
    length: Length = 32,
    exclude_characters: ExcludeCharacters = "",
    exclude_punctuation: ExcludePunctuation = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds each step may take.")
    ] = 300.0,
    as_json: AsJson = False,
) -> None:
    """Rotate: a new pending version, the command's set and test steps, then the
    new version becomes current. Run it again after a failure to resume."""
    rules = generation(
        length,
        exclude_characters,
        exclude_punctuation=exclude_punctuation,
        exclude_numbers=False,
        exclude_lowercase=False,
        exclude_uppercase=False,
        include_space=False,
    )
    # Rules of its own start a rotation with them; the defaults leave the library
    # to generate, or to resume a rotation in progress with its pending value.
    value: Value | Generate | None = rules if rules != Generate() else None
    if value_stdin:
        value = _read_value(as_json=json_value)
    hook = (
        None
        if command is None
        else command_hook(command, timeout=timeout, namespace=namespace)
    )
    secret = _run(
        lambda sm: sm.rotate(name, namespace=namespace, hook=hook, value=value)
    )
    _show_secret(secret, as_json=as_json)


@app.command("stages")
def stages(name: Name, namespace: Namespace = None, as_json: AsJson = False) -> None:
    """Show which version each stage (label) is on."""
    found = _run(lambda sm: sm.versions(name, namespace=namespace))
    staged = [(stage, v.version) for v in found for stage in v.stages]
    _show(
        dict(staged),
        as_json=as_json,
        title=f"stages of {name}",
        columns=["stage", "version"],
        rows=lambda: [[stage, version] for stage, version in staged],
    )
