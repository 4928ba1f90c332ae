"""Commands over the log and its projections: history, stats, audit, as-of, rebuild."""

from __future__ import annotations

import json
import signal
import sys
from typing import Annotated

import typer

from strongroom import Change
from strongroom.cli.base import (
    AsJson,
    Name,
    Namespace,
    _manager,
    _moment,
    _parse_moment,
    _run,
    app,
)
from strongroom.cli.io import (
    _plain,
    _print_json,
    _print_table,
    _progress,
    _show,
    _show_secret,
)


@app.command()
def history(name: Name, namespace: Namespace = None, as_json: AsJson = False) -> None:
    """Show every recorded action on a secret, from the event log."""
    entries = _run(lambda sm: sm.history(name, namespace=namespace))
    _show(
        entries,
        as_json=as_json,
        title=f"history of {name}",
        columns=["at", "actor", "action", "version"],
        rows=lambda: [
            [e.at.isoformat(timespec="seconds"), e.actor, e.action.value, e.version]
            for e in entries
        ],
    )


@app.command()
def stats(namespace: Namespace = None, as_json: AsJson = False) -> None:
    """Count live, revoked, expired, expiring and deleted secrets."""
    found = _run(lambda sm: sm.stats(namespace=namespace))
    if as_json:
        _print_json(found)
        return
    data = _plain(found)
    by_namespace = data.pop("by_namespace")
    rows = [[key, data[key]] for key in data]
    rows += [[f"namespace {ns}", n] for ns, n in sorted(by_namespace.items())]
    _print_table("stats", ["count", "value"], rows)


@app.command()
def audit(
    since: Annotated[
        str | None, typer.Option("--since", help="From this moment (ISO 8601).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Up to this moment (ISO 8601).")
    ] = None,
    actor: Annotated[str | None, typer.Option("--by", help="Only this actor.")] = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="Only this namespace (default: all)."),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="Only this action, e.g. created, revealed."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Recorded actions across the store, in log order (--json: one JSON array)."""
    entries = _run(
        lambda sm: list(
            sm.audit(
                since=_parse_moment(since, "--since"),
                until=_parse_moment(until, "--until"),
                actor=actor,
                namespace=namespace,
                action=action,
            )
        )
    )
    _show(
        entries,
        as_json=as_json,
        title="audit",
        columns=["at", "actor", "action", "namespace", "name", "version"],
        rows=lambda: [
            [
                e.at.isoformat(timespec="seconds"),
                e.actor,
                e.action.value,
                e.namespace,
                e.name,
                e.version,
            ]
            for e in entries
        ],
    )


@app.command("as-of")
def as_of(
    name: Name,
    at: Annotated[str, typer.Argument(help="ISO 8601 date-time with offset.")],
    namespace: Namespace = None,
    as_json: AsJson = False,
) -> None:
    """The secret's metadata as it was at a past instant."""
    moment = _moment(at, "AT")
    secret = _run(lambda sm: sm.as_of(name, moment, namespace=namespace))
    _show_secret(secret, as_json=as_json)


@app.command()
def rebuild(as_json: AsJson = False) -> None:
    """Rebuild listing, stats and audit from the event log."""
    with _progress("rebuilding projections", quiet=as_json) as show:
        _run(lambda sm: sm.rebuild_projections(progress=show))
    if as_json:
        _print_json({"rebuilt": True})
    else:
        sys.stderr.write("projections rebuilt from the event log\n")


@app.command()
def watch(
    after: Annotated[
        int | None,
        typer.Option(
            "--after", help="Start after this log position (default: from now on)."
        ),
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Only names that start so.")
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="Only this namespace (default: all)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (NDJSON).")
    ] = False,
) -> None:
    """Print changes to secrets as they commit, until interrupted (never values).

    Each line starts with the change's log position: pass the last one to
    --after to resume.
    """
    # Store errors exit through _manager's table; SIGTERM ends the watch as
    # Ctrl-C does: closed, exit 0.
    with (
        _manager() as sm,
        sm.watch(after, namespace=namespace, prefix=prefix) as changes,
    ):
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            for change in changes:
                sys.stdout.write(_change_line(change, as_json=as_json))
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    del signum, frame
    raise KeyboardInterrupt


def _change_line(change: Change, *, as_json: bool) -> str:
    if as_json:
        return json.dumps(_plain(change), separators=(",", ":"), sort_keys=True) + "\n"
    where = (
        change.name if change.namespace is None else f"{change.namespace}/{change.name}"
    )
    version = "" if change.version is None else f" v{change.version}"
    by = "" if change.actor is None else f" by {change.actor}"
    at = change.at.isoformat(timespec="seconds")
    return f"{change.position} {at} {change.action.value} {where}{version}{by}\n"
