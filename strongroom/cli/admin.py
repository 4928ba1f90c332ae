"""Running the store: master-key rotation, API tokens, and the HTTP server."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from strongroom.cli.base import (
    AsJson,
    _checked,
    _exit_code,
    _fail,
    _manager,
    _run,
    app,
    state,
)
from strongroom.cli.io import (
    _plain,
    _print_json,
    _progress,
    _show,
)
from strongroom.domain import validation as check
from strongroom.domain.errors import StrongroomError
from strongroom.errors import (
    EXIT_NOT_FOUND,
)


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
    aws: Annotated[
        bool,
        typer.Option(
            "--aws", help="Also an AWS access key (id and secret) for the AWS protocol."
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Create a token; it is printed once and stored only as a hash (an AWS
    key's secret is kept sealed under the store key: SigV4 needs it).

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
            aws=aws,
        )
    )
    keys = (
        {
            "aws_access_key_id": issued.access_key_id,
            "aws_secret_access_key": issued.secret_access_key,
        }
        if aws
        else {}
    )
    if as_json:
        _print_json({"token": issued.token, **keys, **_plain(issued.info)})
    elif aws:
        sys.stdout.write("".join(f"{k}={v}\n" for k, v in keys.items()))
        sys.stderr.write("store them now: the secret cannot be shown again\n")
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
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=64, help="Server processes over the one store."
        ),
    ] = 1,
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="PEM certificate chain: serve HTTPS."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")
    ] = None,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http",
            help="Plain HTTP on a non-loopback address (a TLS proxy is in front).",
        ),
    ] = False,
    access_log: Annotated[
        bool,
        typer.Option("--access-log/--no-access-log", help="JSON lines on stderr."),
    ] = True,
    rotation_command: Annotated[
        str | None,
        typer.Option(
            "--rotation-command",
            envvar="STRONGROOM_ROTATION_COMMAND",
            help="Run per rotation step (see `strongroom rotate --command`).",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (Fluxbase-compatible, under /api/v1/secrets).

    SIGTERM stops accepting connections, lets requests in flight finish and
    commit, and exits 0.
    """
    from strongroom.http import serving

    try:
        serving.check_listener(
            host, tls_cert=tls_cert, tls_key=tls_key, insecure_http=insecure_http
        )
    except StrongroomError as exc:
        _fail(str(exc), _exit_code(exc))
    serving.configure_access_log(enabled=access_log)
    if rotation_command:
        os.environ[serving.ROTATION_COMMAND_ENV] = rotation_command
    if workers > 1:
        # Create the store (and an embedded store's master key) once, here: each
        # worker then opens it itself, from these settings.
        with _manager():
            pass
        if state.url:
            os.environ["STRONGROOM_DATABASE_URL"] = state.url
        os.environ[serving.ACCESS_LOG_ENV] = "1" if access_log else "0"
        serving.run(
            None,
            host=host,
            port=port,
            workers=workers,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
        return
    with _manager() as sm:
        serving.run(sm, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)
