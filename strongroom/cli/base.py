"""The command's app, its global options, and the plumbing every command shares:
opening the store, running a call, and turning errors into exit codes."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from strongroom import SecretsManager
from strongroom.domain import validation as check
from strongroom.domain.errors import StrongroomError, ValidationError
from strongroom.errors import (
    EXIT_USAGE,
    answer_for,
)

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
