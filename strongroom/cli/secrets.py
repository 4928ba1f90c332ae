"""Commands that write and read secrets: put, create, get, reveal, list, versions,
rollback, patch, update (the lifecycle's are in ``lifecycle``)."""

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
    _checked,
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
    _read_value,
    _show,
    _show_secret,
)
from strongroom.domain import validation as check
from strongroom.domain.validation import Value
from strongroom.errors import (
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
    stage: Annotated[
        str | None,
        typer.Option("--stage", help="The version a stage is on: previous, pending..."),
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
            stage=stage,
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
            help="Only this one (default: every namespace).",
        ),
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Only names starting with this.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="active, revoked, pending_deletion or deleted (default: all but deleted).",
        ),
    ] = None,
    rotation_due: Annotated[
        bool, typer.Option("--rotation-due", help="Only those due for rotation.")
    ] = False,
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
            rotation_due=rotation_due,
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
        columns=["version", "created", "by", "cause", "from", "stages"],
        rows=lambda: [
            [
                v.version,
                v.created_at.isoformat(timespec="seconds"),
                v.created_by,
                v.cause.value,
                v.source_version,
                " ".join(v.stages),
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
    rotation_interval: Annotated[
        str | None,
        typer.Option(
            "--rotation-interval",
            help="Due for rotation this long after the last one (1h to 1000d; 'none').",
        ),
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
    if rotation_interval is not None:
        changes["rotation_interval"] = (
            None
            if rotation_interval == "none"
            else _checked(
                lambda: check.parse_duration(rotation_interval, "--rotation-interval")
            )
        )
    if not changes:
        _fail(
            "nothing to update: give --value, --description, --expires-at"
            " or --rotation-interval",
            EXIT_USAGE,
        )
    secret = _run(
        lambda sm: sm.update(
            name, namespace=namespace, expected_version=expected_version, **changes
        )
    )
    _show_secret(secret, as_json=as_json)
