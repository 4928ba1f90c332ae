"""The ``strongroom`` command: secrets from the shell.

Values are read from stdin when it is piped, else from a hidden prompt - never
from argv, where other users and shell history could see them. Exit codes:
0 ok, 1 error, 2 usage, 3 not found, 4 conflict, 5 deleted/revoked/expired.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, NoReturn, TypeVar, cast
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from strongroom.domain import validation as check
from strongroom.domain.errors import StrongroomError, ValidationError
from strongroom.domain.validation import Value
from strongroom.errors import (
    EXIT_ERROR,
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    answer_for,
)
from strongroom.manager import SecretsManager

T = TypeVar("T")

_GLOBAL_OPTIONS = ("--url", "--actor")


def hoist_global_options(args: list[str]) -> list[str]:
    """Move ``--url``/``--actor`` given after the subcommand to before it.

    They configure the store, not the command, so ``strongroom import f --url U``
    means what ``strongroom --url U import f`` does. Nothing after ``--`` moves.
    """
    hoisted: list[str] = []
    rest: list[str] = []
    items = iter(args)
    for arg in items:
        if arg == "--":
            rest += [arg, *items]
            break
        option, eq, _ = arg.partition("=")
        if option in _GLOBAL_OPTIONS and rest:
            hoisted.append(arg)
            if not eq:
                hoisted.append(next(items, ""))
        else:
            rest.append(arg)
    return hoisted + rest


class _Group(TyperGroup):
    """The top-level group: global options are taken anywhere on the line."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Hoist the global options, then parse as usual."""
        return super().parse_args(ctx, hoist_global_options(args))


app = typer.Typer(
    name="strongroom",
    cls=_Group,
    help="An event-sourced secrets store with per-secret crypto-shredding.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)

Namespace = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="The secret's namespace (default: global)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Name = Annotated[str, typer.Argument(help="Secret name, e.g. app/db/password.")]


class _State:
    url: str | None = None
    actor: str | None = None


state = _State()


def _print_version(given: bool) -> None:
    if given:
        from importlib.metadata import version

        sys.stdout.write(f"strongroom {version('strongroom')}\n")
        raise typer.Exit(0)


@app.callback()
def _options(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="STRONGROOM_DATABASE_URL",
            help="sqlite:///PATH or postgresql://... (default: the embedded store).",
        ),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor", help="Who the log records as the actor (default: your login)."
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """An event-sourced secrets store with per-secret crypto-shredding.

    --url and --actor may also follow the subcommand.
    """
    del version
    state.url = url
    state.actor = actor or _os_user()


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _exit_code(exc: StrongroomError) -> int:
    return answer_for(exc).exit_code


def _fail(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"strongroom: {message}\n")
    raise typer.Exit(code)


@contextmanager
def _manager() -> Iterator[SecretsManager]:
    try:
        with SecretsManager.open(state.url, actor=state.actor) as manager:
            yield manager
    except StrongroomError as exc:
        _fail(str(exc), _exit_code(exc))


def _plain(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: _plain(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, (UUID, Enum)):
        return str(obj.value if isinstance(obj, Enum) else obj)
    return obj


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(_plain(obj), indent=2, sort_keys=True) + "\n")


def _print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    if sys.stdout.isatty():
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*("" if c is None else str(c) for c in row))
        Console().print(table)
    else:
        for row in rows:
            sys.stdout.write("\t".join("" if c is None else str(c) for c in row) + "\n")


def _show(
    found: Any,
    *,
    as_json: bool,
    title: str,
    columns: list[str],
    rows: Callable[[], list[list[Any]]],
) -> None:
    """One JSON document with --json, else a table (rich on a terminal)."""
    if as_json:
        _print_json(found)
    else:
        _print_table(title, columns, rows())


def _read_value(*, as_json: bool) -> Value:
    text: str
    if sys.stdin.isatty():
        text = typer.prompt("Value", hide_input=True, confirmation_prompt=True)
    else:
        text = sys.stdin.read()
        if text.endswith("\n"):
            text = text[:-1]
    if not as_json:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        _fail("the value is not valid JSON", EXIT_USAGE)
    if not isinstance(value, dict):
        _fail("a JSON value must be an object", EXIT_USAGE)
    return cast("dict[str, Any]", value)


def _show_secret(secret: Any, *, as_json: bool) -> None:
    if as_json:
        _print_json(secret)
        return
    data = _plain(secret)
    _print_table(secret.name, ["field", "value"], [[key, data[key]] for key in data])


def _run(action: Callable[[SecretsManager], Any]) -> Any:
    with _manager() as manager:
        try:
            return action(manager)
        except StrongroomError as exc:
            _fail(str(exc), _exit_code(exc))


JsonValue = Annotated[
    bool, typer.Option("--json-value", help="Read the value as a JSON object.")
]
Description = Annotated[
    str | None, typer.Option("--description", "-d", help="A free-text description.")
]


def _write(
    verb: str,
    name: str,
    namespace: str | None,
    description: str | None,
    *,
    json_value: bool,
    as_json: bool,
) -> None:
    value = _read_value(as_json=json_value)
    extra = {} if description is None else {"description": description}
    secret = _run(
        lambda sm: getattr(sm, verb)(name, value, namespace=namespace, **extra)
    )
    _show_secret(secret, as_json=as_json)


@app.command()
def put(
    name: Name,
    namespace: Namespace = None,
    description: Description = None,
    json_value: JsonValue = False,
    as_json: AsJson = False,
) -> None:
    """Create a secret or add a new value version (value from stdin or a prompt)."""
    _write("put", name, namespace, description, json_value=json_value, as_json=as_json)


@app.command()
def create(
    name: Name,
    namespace: Namespace = None,
    description: Description = None,
    json_value: JsonValue = False,
    as_json: AsJson = False,
) -> None:
    """Create a secret; fails if the name is taken (value from stdin or a prompt)."""
    _write(
        "create", name, namespace, description, json_value=json_value, as_json=as_json
    )


@app.command()
def get(
    name: Name,
    namespace: Namespace = None,
    include_deleted: Annotated[
        bool,
        typer.Option("--include-deleted", help="Show a deleted secret's tombstone."),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Show a secret's metadata (never its value)."""
    secret = _run(
        lambda sm: sm.get(name, namespace=namespace, include_deleted=include_deleted)
    )
    _show_secret(secret, as_json=as_json)


@app.command()
def reveal(
    name: Name,
    namespace: Namespace = None,
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="An older value version.")
    ] = None,
    app_name: Annotated[
        str | None,
        typer.Option("--app", help="The app asking (for restricted secrets)."),
    ] = None,
    env: Annotated[
        str | None,
        typer.Option("--env", help="The env asking (for restricted secrets)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Print the value (raw text, or JSON for object values) to stdout.

    Every reveal from the command line is recorded in the log (who, which
    version, when; never the value): a person reading a secret is audited.
    """
    value = _run(
        lambda sm: sm.reveal(
            name,
            namespace=namespace,
            version=version,
            app=app_name,
            env=env,
            audit=True,
        )
    )
    if as_json or isinstance(value, dict):
        sys.stdout.write(json.dumps(value) + "\n")
    else:
        sys.stdout.write(value + ("" if not sys.stdout.isatty() else "\n"))


@app.command("list")
def list_(
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            help="Only this namespace (default: every namespace and the global ones).",
        ),
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Only names starting with this.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", help="active, revoked or deleted (default: active and revoked)."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="At most this many (1-1000).")
    ] = 100,
    cursor: Annotated[
        str | None,
        typer.Option("--cursor", help="Go on from an earlier page's cursor."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List secrets (metadata only), global ones first, then by namespace and name."""
    page = _run(
        lambda sm: sm.list(
            namespace=namespace,
            prefix=prefix,
            status=status,
            limit=limit,
            cursor=cursor,
        )
    )
    _show(
        page,
        as_json=as_json,
        title="secrets",
        columns=["namespace", "name", "version", "status", "expires", "updated"],
        rows=lambda: [
            [
                s.namespace or "",
                s.name,
                s.version,
                s.status.value,
                "expired" if s.is_expired else (s.expires_at or ""),
                s.updated_at.isoformat(timespec="seconds"),
            ]
            for s in page.items
        ],
    )
    if page.next_cursor and not as_json:
        sys.stderr.write(f"more: --cursor {page.next_cursor}\n")


@app.command()
def versions(name: Name, namespace: Namespace = None, as_json: AsJson = False) -> None:
    """List a secret's value versions, newest first."""
    found = _run(lambda sm: sm.versions(name, namespace=namespace))
    _show(
        found,
        as_json=as_json,
        title=f"versions of {name}",
        columns=["version", "created", "by", "cause", "from"],
        rows=lambda: [
            [
                v.version,
                v.created_at.isoformat(timespec="seconds"),
                v.created_by,
                v.cause.value,
                v.source_version,
            ]
            for v in found
        ],
    )


@app.command()
def rollback(
    name: Name,
    version: Annotated[int, typer.Argument(help="The version whose value to restore.")],
    namespace: Namespace = None,
    as_json: AsJson = False,
) -> None:
    """Add a new version carrying an older version's value."""
    secret = _run(lambda sm: sm.rollback(name, version, namespace=namespace))
    _show_secret(secret, as_json=as_json)


def _toggle(verb: str, name: str, namespace: str | None, as_json: bool) -> None:
    changed = _run(lambda sm: getattr(sm, verb)(name, namespace=namespace))
    if as_json:
        _print_json({"name": name, "namespace": namespace, "changed": changed})
    else:
        sys.stdout.write(f"{verb}d {name}\n" if changed else f"{name}: unchanged\n")


@app.command()
def revoke(name: Name, namespace: Namespace = None, as_json: AsJson = False) -> None:
    """Refuse reveals of a secret until it is reinstated."""
    _toggle("revoke", name, namespace, as_json)


@app.command()
def reinstate(name: Name, namespace: Namespace = None, as_json: AsJson = False) -> None:
    """Allow reveals of a revoked secret again."""
    _toggle("reinstate", name, namespace, as_json)


@app.command()
def delete(
    name: Name,
    namespace: Namespace = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: AsJson = False,
) -> None:
    """Crypto-shred a secret: every version becomes unreadable, the name stays taken."""
    _confirm(yes, f"Delete {name!r} forever? Every version becomes unreadable")
    deleted = _run(lambda sm: sm.delete(name, namespace=namespace))
    if as_json:
        _print_json({"name": name, "namespace": namespace, "deleted": deleted})
    elif deleted:
        sys.stdout.write(f"deleted {name}\n")
    else:
        _fail(f"secret {name!r} not found (or already deleted)", EXIT_NOT_FOUND)


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


# ------------------------------------------------------------------ more secrets commands


def _parse_moment(text: str | None, what: str) -> datetime | None:
    return None if text is None else _moment(text, what)


def _moment(text: str, what: str) -> datetime:
    return _checked(lambda: check.parse_moment(text, what))


def _checked(parse: Callable[[], T]) -> T:
    """The result of a library rule applied to an argument; exit 2 if it fails."""
    try:
        return parse()
    except ValidationError as exc:
        _fail(str(exc), EXIT_USAGE)


@app.command()
def patch(
    name: Name,
    merge: Annotated[
        str, typer.Option("--merge", help="A JSON object merged into the value.")
    ],
    namespace: Namespace = None,
    as_json: AsJson = False,
) -> None:
    """Merge keys into a JSON-object value (null removes a key); creates if missing."""
    try:
        changes = json.loads(merge)
    except ValueError:
        _fail("--merge must be a JSON object", EXIT_USAGE)
    if not isinstance(changes, dict):
        _fail("--merge must be a JSON object", EXIT_USAGE)
    _run(lambda sm: sm.patch(name, changes, namespace=namespace))
    secret = _run(lambda sm: sm.get(name, namespace=namespace))
    _show_secret(secret, as_json=as_json)


@app.command()
def update(
    name: Name,
    namespace: Namespace = None,
    value: Annotated[
        bool, typer.Option("--value", help="Read a new value from stdin or a prompt.")
    ] = False,
    description: Description = None,
    expires_at: Annotated[
        str | None,
        typer.Option("--expires-at", help="When it expires: ISO 8601 with offset."),
    ] = None,
    expected_version: Annotated[
        int | None,
        typer.Option(
            "--expected-version",
            min=1,
            help="Fail unless the value is at this version.",
        ),
    ] = None,
    json_value: JsonValue = False,
    as_json: AsJson = False,
) -> None:
    """Change only what is given (a new value makes a new version)."""
    changes: dict[str, Any] = {}
    if value:
        changes["value"] = _read_value(as_json=json_value)
    if description is not None:
        changes["description"] = description
    if expires_at is not None:
        changes["expires_at"] = _parse_moment(expires_at, "--expires-at")
    if not changes:
        _fail(
            "nothing to update: give --value, --description or --expires-at", EXIT_USAGE
        )
    secret = _run(
        lambda sm: sm.update(
            name, namespace=namespace, expected_version=expected_version, **changes
        )
    )
    _show_secret(secret, as_json=as_json)


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


# ------------------------------------------------------------------ progress


@contextmanager
def _progress(
    description: str, *, quiet: bool
) -> Iterator[Callable[[int, int | None], None]]:
    """A rich progress bar on a terminal; nothing under --json or when piped."""
    if quiet or not (sys.stderr.isatty() and sys.stdout.isatty()):
        yield lambda _done, _total: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# ------------------------------------------------------------------ keys

keys_app = typer.Typer(
    name="keys",
    help="reSolve-style aggregate keys: one secret per id, ids never reused.",
    no_args_is_help=True,
)
app.add_typer(keys_app)

KeyId = Annotated[str, typer.Argument(help="Aggregate key id.")]
TransportKeyFile = Annotated[
    str | None,
    typer.Option(
        "--transport-key-file",
        help="File holding a 32-byte transport key (base64) to seal/open the export.",
    ),
]


def _read_transport_key(path: str | None) -> bytes | None:
    if path is None:
        return None
    from pathlib import Path

    try:
        return Path(path).expanduser().read_bytes().strip()
    except OSError as exc:
        _fail(f"cannot read the transport key file: {exc.strerror}", EXIT_USAGE)


@keys_app.command("get")
def keys_get(key_id: KeyId, as_json: AsJson = False) -> None:
    """Print the secret of an aggregate key id."""
    found = _run(lambda sm: sm.keys.get_secret(key_id))
    if as_json:
        _print_json({"id": key_id, "secret": found})
    elif found is None:
        _fail(f"no key under id {key_id!r} (never set, or deleted)", EXIT_NOT_FOUND)
    else:
        sys.stdout.write(found + "\n")


@keys_app.command("set")
def keys_set(key_id: KeyId, as_json: AsJson = False) -> None:
    """Set the secret of a never-used id (read from stdin or a hidden prompt)."""
    secret = _read_value(as_json=False)
    if not isinstance(secret, str):
        _fail("a key secret must be text", EXIT_USAGE)
    _run(lambda sm: sm.keys.set_secret(key_id, secret))
    if as_json:
        _print_json({"id": key_id, "set": True})


@keys_app.command("delete")
def keys_delete(
    key_id: KeyId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: AsJson = False,
) -> None:
    """Destroy the secret of an id (the id stays used forever)."""
    _confirm(yes, f"Destroy the key of {key_id!r} forever?")
    deleted = _run(lambda sm: sm.keys.delete_secret(key_id))
    if as_json:
        _print_json({"id": key_id, "deleted": deleted})
    elif not deleted:
        _fail(
            f"no key under id {key_id!r} (never set, or already deleted)",
            EXIT_NOT_FOUND,
        )


@keys_app.command("describe")
def keys_describe(as_json: AsJson = False) -> None:
    """Count issued, live and deleted key ids."""
    found = _run(lambda sm: sm.keys.describe())
    if as_json:
        _print_json(found)
        return
    data = _plain(found)
    _print_table("keys", ["count", "value"], [[k, data[k]] for k in data])


Plaintext = Annotated[
    bool, typer.Option("--plaintext", help="Write the secrets in the clear.")
]
Output = Annotated[
    str | None,
    typer.Option("--output", "-o", help="Write to this new file (mode 0600)."),
]
Source = Annotated[
    str, typer.Argument(help="NDJSON file from an export, or - for stdin.")
]


def _export(
    output: str | None,
    lines: Callable[[SecretsManager], Iterator[str]],
    total: Callable[[SecretsManager], int],
) -> None:
    """Write an export's lines, with a progress bar on a terminal."""
    with _manager() as sm:
        try:
            exported = lines(sm)
            count = total(sm)
            with _open_output(output) as out, _progress("export", quiet=False) as show:
                for done, line in enumerate(exported, start=1):
                    out.write(line)
                    if done % 1000 == 0 or done == count:
                        show(done, count)
        except StrongroomError as exc:
            _fail(str(exc), _exit_code(exc))


def _import(
    source: str,
    run: Callable[[SecretsManager, Iterable[str], Callable[[int], None]], Any],
    *,
    quiet: bool,
) -> Any:
    """Feed an import from a file or stdin, with a progress bar on a terminal."""
    try:
        stream = sys.stdin if source == "-" else open(source, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        _fail(f"cannot read {source!r}: {exc.strerror}", EXIT_USAGE)
    with stream, _progress("import", quiet=quiet) as show:
        return _run(lambda sm: run(sm, stream, lambda done: show(done, None)))


@app.command("export")
def export_secrets(
    plaintext: Plaintext = False,
    transport_key_file: TransportKeyFile = None,
    output: Output = None,
) -> None:
    """Export every live secret (value and metadata) as NDJSON."""
    transport = _read_transport_key(transport_key_file)
    _export(
        output,
        lambda sm: sm.export_secrets(plaintext=plaintext, transport_key=transport),
        lambda sm: sm.stats().total,
    )


@app.command("import")
def import_secrets(
    source: Source = "-",
    transport_key_file: TransportKeyFile = None,
    as_json: AsJson = False,
) -> None:
    """Create the secrets of an export; a taken name stops the import."""
    transport = _read_transport_key(transport_key_file)
    created = _import(
        source,
        lambda sm, lines, progress: sm.import_secrets(
            lines, transport_key=transport, progress=progress
        ),
        quiet=as_json,
    )
    if as_json:
        _print_json({"imported": created})
    else:
        sys.stderr.write(f"imported {created} secrets\n")


@keys_app.command("export")
def keys_export(
    plaintext: Annotated[
        bool, typer.Option("--plaintext", help="Write key material in the clear.")
    ] = False,
    transport_key_file: TransportKeyFile = None,
    output: Output = None,
) -> None:
    """Export every key id as NDJSON, tombstones included."""
    transport = _read_transport_key(transport_key_file)
    _export(
        output,
        lambda sm: sm.keys.export_secrets(plaintext=plaintext, transport_key=transport),
        lambda sm: sm.keys.describe().secret_count,
    )


@contextmanager
def _open_output(path: str | None) -> Iterator[Any]:
    if path is None:
        yield sys.stdout
        return
    import os

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        _fail(f"cannot create {path!r}: {exc.strerror}", EXIT_USAGE)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        yield file


@keys_app.command("import")
def keys_import(
    source: Source = "-",
    transport_key_file: TransportKeyFile = None,
    as_json: AsJson = False,
) -> None:
    """Import exported key ids; ids already used here are refused."""
    transport = _read_transport_key(transport_key_file)
    result = _import(
        source,
        lambda sm, lines, progress: sm.keys.import_secrets(
            lines, transport_key=transport, progress=progress
        ),
        quiet=as_json,
    )
    if as_json:
        _print_json(result)
    else:
        sys.stderr.write(
            f"imported {result.imported} keys and {result.tombstones} tombstones\n"
        )


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        _fail("refusing to destroy without --yes when not on a terminal", EXIT_USAGE)
    typer.confirm(question, abort=True)


# ------------------------------------------------------------------ master key


@app.command("rotate-master-key")
def rotate_master_key(
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, help="Keys re-wrapped per transaction."),
    ] = 1000,
    as_json: AsJson = False,
) -> None:
    """Re-wrap every key under STRONGROOM_MASTER_KEY (the old one as ..._PREVIOUS).

    Never decrypts an event. Safe to re-run after an interruption: it finishes.
    """
    with _progress("re-wrapping keys", quiet=as_json) as show:
        done = _run(
            lambda sm: sm.rotate_master_key(batch_size=batch_size, progress=show)
        )
    if as_json:
        _print_json(done)
        return
    sys.stderr.write(
        f"re-wrapped {done.rewrapped} keys under master key {done.master_key_id}.\n"
    )
    if done.retired:
        sys.stderr.write(
            f"retired master key(s) {', '.join(done.retired)}: nothing in this store "
            "is wrapped under them any more. Restart every process with only the new "
            "key, then destroy the old key - after that, no backup taken before the "
            "rotation can unwrap a shredded key.\n"
        )
    else:
        sys.stderr.write("no other master key was in use; nothing to retire.\n")


# ------------------------------------------------------------------ tokens and serve

token_app = typer.Typer(
    name="token", help="API tokens of the HTTP API.", no_args_is_help=True
)
app.add_typer(token_app)


def _expiry(text: str | None) -> datetime | None:
    if text is None:
        return None
    from datetime import UTC

    return _checked(
        lambda: check.expiry_after(
            datetime.now(UTC), check.parse_duration(text, "--expires")
        )
    )


@token_app.command("create")
def token_create(
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="secrets:read, secrets:reveal, secrets:write, keys:read, keys:write, admin",
        ),
    ],
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="Bind the token to this namespace."),
    ] = None,
    app_name: Annotated[
        str | None,
        typer.Option("--app", help="Bind it to this app: it reveals only as this app."),
    ] = None,
    env: Annotated[
        str | None,
        typer.Option("--env", help="Bind it to this env: it reveals only as this env."),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Lifetime, e.g. 30d, 12h (s, m, h, d, w, y)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="A label for the token.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Create a token; it is printed once and stored only as a hash.

    A token bound to a namespace, app or env acts only there, and cannot use
    the store-wide key API.
    """
    expires_at = _expiry(expires)
    issued = _run(
        lambda sm: sm.tokens.create(
            scopes=scope,
            namespace=namespace,
            expires_at=expires_at,
            name=name,
            app=app_name,
            env=env,
        )
    )
    if as_json:
        _print_json({"token": issued.token, **_plain(issued.info)})
    else:
        sys.stdout.write(issued.token + "\n")
        sys.stderr.write("store it now: it cannot be shown again\n")


@token_app.command("list")
def token_list(as_json: AsJson = False) -> None:
    """List tokens (never the tokens themselves)."""
    found = _run(lambda sm: sm.tokens.list())
    _show(
        found,
        as_json=as_json,
        title="tokens",
        columns=[
            "id",
            "name",
            "scopes",
            "namespace",
            "app",
            "env",
            "expires",
            "revoked",
        ],
        rows=lambda: [
            [
                t.id,
                t.name,
                ",".join(t.scopes),
                t.namespace,
                t.app,
                t.env,
                t.expires_at,
                t.revoked,
            ]
            for t in found
        ],
    )


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id.")],
    as_json: AsJson = False,
) -> None:
    """Revoke a token: it stops working at once."""
    revoked = _run(lambda sm: sm.tokens.revoke(token_id))
    if as_json:
        _print_json({"id": token_id, "revoked": revoked})
    elif not revoked:
        _fail(f"no live token with id {token_id!r}", EXIT_NOT_FOUND)


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")
    ] = 8200,
    access_log: Annotated[
        bool,
        typer.Option("--access-log/--no-access-log", help="JSON lines on stderr."),
    ] = True,
) -> None:
    """Serve the HTTP API (Fluxbase-compatible, under /api/v1/secrets)."""
    import logging

    import uvicorn

    from strongroom.http import access_log as http_log
    from strongroom.http import create_app

    if access_log:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        http_log.addHandler(handler)
        http_log.setLevel(logging.INFO)
        http_log.propagate = False

    with _manager() as sm:
        config = uvicorn.Config(
            create_app(sm),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            server_header=False,
        )
        server = uvicorn.Server(config)
        startup = server.startup

        async def announce(sockets: Any = None) -> None:
            await startup(sockets)
            for listener in server.servers:
                for sock in listener.sockets:
                    where, bound = sock.getsockname()[:2]
                    sys.stderr.write(
                        f"strongroom: serving http://{where}:{bound} "
                        f"(API under /api/v1/secrets, index at /)\n"
                    )
            sys.stderr.flush()

        server.startup = announce  # type: ignore[method-assign]
        server.run()


def main() -> None:
    """Entry point of the ``strongroom`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(EXIT_ERROR) from None
