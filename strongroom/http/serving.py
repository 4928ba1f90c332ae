"""Running the HTTP API: one process or several over one store, TLS or plain HTTP on
loopback, and a graceful stop on SIGTERM (requests in flight finish and commit).

Several processes, on one machine (``workers``) or many behind a load balancer,
serve one store safely: every rule that spans requests (a name taken once,
If-Match, a revoked token) is decided by the database, not by a process's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

from strongroom.domain.errors import ValidationError
from strongroom.http.app import create_app
from strongroom.http.aws import DEFAULT_ACCOUNT
from strongroom.http.errors import access_log
from strongroom.http.feed import end_streams
from strongroom.manager import SecretsManager
from strongroom.rotation_hooks import command_hook
from strongroom.services.lifecycle import RotationHook

GRACE_SECONDS = 30
"""How long a stopping server waits for requests in flight."""
ACCESS_LOG_ENV = "STRONGROOM_HTTP_ACCESS_LOG"
"""Tells worker processes whether to write the access log ("1") or not."""
AWS_ACCOUNT_ENV = "STRONGROOM_AWS_ACCOUNT_ID"
ROTATION_COMMAND_ENV = "STRONGROOM_ROTATION_COMMAND"
"""The command a server runs for each rotation step (``serve --rotation-command``)."""


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with Nagle's algorithm off on every connection,
    whose graceful shutdown also ends change-feed streams.

    asyncio turns it off only for sockets whose protocol number it can read, and a
    listening socket handed to worker processes loses it: kept-alive connections
    then wait 40 ms for a delayed ACK between a response's headers and its body.
    """

    def shutdown(self) -> None:
        """Let requests in flight finish, and end this process's change streams."""
        # A stream never completes by itself: without this, a stopping server
        # would wait out its whole grace for each open feed. Ended, a stream
        # completes its response, and its connection closes after it.
        end_streams()
        super().shutdown()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Set TCP_NODELAY, then serve the connection."""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in {socket.AF_INET, socket.AF_INET6}:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def configure_access_log(*, enabled: bool) -> None:
    """Send the access log (JSON lines) to stderr, or keep it quiet."""
    if enabled and not access_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False


def check_listener(
    host: str,
    *,
    tls_cert: Path | None,
    tls_key: Path | None,
    insecure_http: bool,
) -> None:
    """ValidationError unless the listener is safe: TLS, or loopback, or a proxy
    the operator says terminates TLS in front of it."""
    if (tls_cert is None) != (tls_key is None):
        msg = "give --tls-cert and --tls-key together"
        raise ValidationError(msg)
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            msg = f"no such file: {path}"
            raise ValidationError(msg)
    if tls_cert is None and not insecure_http and not is_loopback(host):
        msg = (
            f"refusing plain HTTP on {host}: tokens and secret values would cross "
            "the network in the clear. Give --tls-cert and --tls-key, or "
            "--insecure-http if a TLS-terminating proxy is in front of this server"
        )
        raise ValidationError(msg)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def options_from_env() -> dict[str, Any]:
    """The server's own settings: its rotation hook (``STRONGROOM_ROTATION_COMMAND``:
    hooks are the operator's configuration, never a request's) and the account
    id in its ARNs (``STRONGROOM_AWS_ACCOUNT_ID``)."""
    command = os.environ.get(ROTATION_COMMAND_ENV)
    hook: RotationHook | None = command_hook(command) if command else None
    account = os.environ.get(AWS_ACCOUNT_ENV) or DEFAULT_ACCOUNT
    if not (account.isascii() and account.isdigit() and len(account) == 12):
        msg = f"{AWS_ACCOUNT_ENV} must be 12 digits"
        raise ValidationError(msg)
    return {"rotation_hook": hook, "aws_account": account}


def app_from_env() -> FastAPI:
    """A worker's application: its own manager on the store the settings name."""
    configure_access_log(enabled=os.environ.get(ACCESS_LOG_ENV) == "1")
    sm = SecretsManager.open()  # the settings: STRONGROOM_DATABASE_URL and the rest
    app = create_app(sm, **options_from_env())
    serving = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(given: Any) -> AsyncIterator[Any]:
        async with serving(given) as state:
            yield state
        sm.close()  # after the requests in flight, whose commits it waits for

    app.router.lifespan_context = lifespan
    return app


def run(
    sm: SecretsManager | None,
    *,
    host: str,
    port: int,
    workers: int = 1,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT: ``sm`` in this process, or ``workers``
    processes that each open the store from the environment's settings."""
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": GRACE_SECONDS,
        "http": NoDelayH11Protocol,
        "ssl_certfile": None if tls_cert is None else str(tls_cert),
        "ssl_keyfile": None if tls_key is None else str(tls_key),
    }
    scheme = "http" if tls_cert is None else "https"
    if workers > 1 or sm is None:
        config = uvicorn.Config(
            "strongroom.http.serving:app_from_env",
            factory=True,
            workers=workers,
            **common,
        )
        sock = config.bind_socket()
        _announce(announce, scheme, sock.getsockname(), workers)
        Multiprocess(config, sockets=[sock]).run()
        return
    config = uvicorn.Config(create_app(sm, **options_from_env()), **common)
    server = uvicorn.Server(config)
    startup = server.startup

    async def started(sockets: Any = None) -> None:
        await startup(sockets)
        for listener in server.servers:
            for sock in listener.sockets:
                _announce(announce, scheme, sock.getsockname(), 1)

    server.startup = started  # type: ignore[method-assign]
    # uvicorn drains, then re-raises SIGTERM under the handler it found: make that
    # a clean exit (status 0) once the requests in flight have finished.
    previous = signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_cleanly(signum: int, frame: object) -> None:
    del signum, frame
    raise SystemExit(0)


def _announce(
    announce: Callable[[str], None] | None,
    scheme: str,
    address: Any,
    workers: int,
) -> None:
    where, bound = address[:2]
    if ":" in where:
        where = f"[{where}]"
    line = (
        f"strongroom: serving {scheme}://{where}:{bound} "
        f"(API under /api/v1/secrets, index at /"
        + (f", {workers} workers" if workers > 1 else "")
        + ")\n"
    )
    (announce or sys.stderr.write)(line)
    sys.stderr.flush()
