"""Moving secrets and keys between stores: export and import, as NDJSON."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any

import typer

from strongroom import SecretsManager
from strongroom.cli.base import (
    AsJson,
    _exit_code,
    _fail,
    _manager,
    _run,
    app,
)
from strongroom.cli.io import (
    _open_output,
    _print_json,
    _progress,
    _read_transport_key,
)
from strongroom.cli.keys import (
    keys_app,
)
from strongroom.domain.errors import StrongroomError
from strongroom.errors import (
    EXIT_USAGE,
)

TransportKeyFile = Annotated[
    str | None,
    typer.Option(
        "--transport-key-file",
        help="File holding a 32-byte transport key (base64) to seal/open the export.",
    ),
]


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
