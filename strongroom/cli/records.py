"""Commands over the log and its projections: history, stats, audit, as-of, rebuild."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from strongroom.cli.base import (
    AsJson,
    Name,
    Namespace,
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
