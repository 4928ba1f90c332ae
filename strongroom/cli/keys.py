"""The ``keys`` sub-command: reSolve-style aggregate keys."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from strongroom.cli.base import (
    AsJson,
    _fail,
    _run,
    app,
)
from strongroom.cli.io import (
    _confirm,
    _plain,
    _print_json,
    _print_table,
    _read_value,
)
from strongroom.errors import (
    EXIT_NOT_FOUND,
    EXIT_USAGE,
)

keys_app = typer.Typer(
    name="keys",
    help="reSolve-style aggregate keys: one secret per id, ids never reused.",
    no_args_is_help=True,
)


app.add_typer(keys_app)


KeyId = Annotated[str, typer.Argument(help="Aggregate key id.")]


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
