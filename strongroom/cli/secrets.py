"""Commands that write and read secrets: put, create, get, reveal, list, versions,
rollback, revoke, reinstate, delete, patch, update."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from strongroom import Generate, SecretsManager
from strongroom.cli.base import (
    AsJson,
    Description,
    JsonValue,
    Name,
    Namespace,
    _fail,
    _parse_moment,
    _run,
    app,
)
from strongroom.cli.generate import (
    ExcludeCharacters,
    ExcludeLowercase,
    ExcludeNumbers,
    ExcludePunctuation,
    ExcludeUppercase,
    IncludeSpace,
    Length,
    generation,
)
from strongroom.cli.io import (
    _confirm,
    _print_json,
    _read_value,
    _show,
    _show_secret,
)
from strongroom.domain.validation import Value
from strongroom.errors import (
    EXIT_NOT_FOUND,
    EXIT_USAGE,
)


def _write(
    verb: str,
    name: str,
    namespace: str | None,
    description: str | None,
    *,
    json_value: bool,
    as_json: bool,
    generated: Generate | None = None,
) -> None:
    value: Value | Generate = (
        _read_value(as_json=json_value) if generated is None else generated
    )
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
    generate: Annotated[
        bool,
        typer.Option("--generate", help="Store a random value; it is never shown."),
    ] = False,
    length: Length = 32,
    exclude_characters: ExcludeCharacters = "",
    exclude_punctuation: ExcludePunctuation = False,
    exclude_numbers: ExcludeNumbers = False,
    exclude_lowercase: ExcludeLowercase = False,
    exclude_uppercase: ExcludeUppercase = False,
    include_space: IncludeSpace = False,
) -> None:
    """Create a secret or add a new value version (value from stdin or a prompt,
    or generated with --generate and the options of `strongroom generate`)."""
    generated = (
        generation(
            length,
            exclude_characters,
            exclude_punctuation=exclude_punctuation,
            exclude_numbers=exclude_numbers,
            exclude_lowercase=exclude_lowercase,
            exclude_uppercase=exclude_uppercase,
            include_space=include_space,
        )
        if generate
        else None
    )
    _write(
        "put",
        name,
        namespace,
        description,
        json_value=json_value,
        as_json=as_json,
        generated=generated,
    )


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

    def patched(sm: SecretsManager) -> Any:
        sm.patch(name, changes, namespace=namespace)
        return sm.get(name, namespace=namespace)

    _show_secret(_run(patched), as_json=as_json)


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
