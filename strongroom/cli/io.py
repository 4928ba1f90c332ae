"""What the command prints and reads: JSON, tables, values from stdin, progress,
confirmations, output files."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, cast
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from strongroom.cli.base import (
    _fail,
)
from strongroom.domain.validation import Value
from strongroom.errors import (
    EXIT_USAGE,
)


def _plain(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: _plain(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (datetime, timedelta)):
        # JSON has no durations: seconds.
        return obj.isoformat() if isinstance(obj, datetime) else obj.total_seconds()
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


def _read_transport_key(path: str | None) -> bytes | None:
    if path is None:
        return None
    from pathlib import Path

    try:
        return Path(path).expanduser().read_bytes().strip()
    except OSError as exc:
        _fail(f"cannot read the transport key file: {exc.strerror}", EXIT_USAGE)


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


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        _fail("refusing to destroy without --yes when not on a terminal", EXIT_USAGE)
    typer.confirm(question, abort=True)
