"""Nothing leaks: values and keys never reach logs, errors, tracebacks, reprs or tables.

One lifecycle and every error path run at DEBUG for strongroom, eventsourcing and
psycopg; each error is rendered every way a host would show it (message, repr,
plain and chained traceback, rich traceback with locals off). Then every table of
the store is searched for the values and for the master key.
"""

from __future__ import annotations

import base64
import io
import logging
import pickle
import secrets
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console
from rich.traceback import Traceback

from strongroom import SecretsManager, StrongroomError
from tests.conftest import MASTER_KEY

from .raw import query, store_application

LOGGERS = ("strongroom", "eventsourcing", "psycopg")


def _rendered(exc: BaseException) -> str:
    plain = "".join(traceback.format_exception(exc))
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(
        Traceback.from_exception(type(exc), exc, exc.__traceback__, show_locals=False)
    )
    return "\n".join([str(exc), repr(exc), plain, console.export_text()])


def _all_stored_bytes(url: str) -> bytes:
    if url.startswith("sqlite"):
        tables = [
            r[0]
            for r in query(url, "SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
    else:
        tables = [
            r[0]
            for r in query(
                url,
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public'",
            )
        ]
    assert "strongroom_events" in tables
    out = bytearray()
    for table in tables:
        for row in query(url, f'SELECT * FROM "{table}"'):
            for cell in row:
                out += (
                    bytes(cell)
                    if isinstance(cell, (bytes, memoryview))
                    else repr(cell).encode()
                )
                out += b"\x00"
    return bytes(out)


def test_no_value_or_key_leaks_anywhere_when_a_lifecycle_and_its_errors_run(
    sm: SecretsManager, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    canary = f"canary-{secrets.token_hex(8)}"
    values = {
        "plain": canary + "-plain",
        "json": {"password": canary + "-json"},
        "key": canary + "-key",
    }
    errors: list[BaseException] = []

    def expect_error(action: Callable[[], Any]) -> None:
        try:
            action()
        except StrongroomError as exc:
            errors.append(exc)
        else:
            pytest.fail("expected an error")

    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    with caplog.at_level(logging.DEBUG):
        # Descriptions and tags are listing metadata (kept in the read model), not values.
        sm.create("svc", values["plain"], description="the service's password")
        sm.update("svc", value=values["json"])
        assert sm.reveal("svc") == values["json"]
        sm.patch("svc", {"extra": canary + "-patch"})
        sm.rollback("svc", 1)
        sm.versions("svc")
        sm.revoke("svc")
        expect_error(lambda: sm.reveal("svc"))
        sm.reinstate("svc")
        sm.keys.set_secret("agg", values["key"])
        assert sm.keys.get_secret("agg") == values["key"]
        expect_error(lambda: sm.keys.set_secret("agg", values["key"]))
        expect_error(lambda: sm.create("svc", values["plain"]))
        expect_error(lambda: sm.create("big", canary * 10_000))
        expect_error(lambda: sm.create("bad", {"x": {canary}}))  # not JSON
        sm.create("str-secret", canary + "-str")
        expect_error(lambda: sm.patch("str-secret", {"a": canary}))
        expect_error(
            lambda: sm.update("svc", value=values["plain"], expected_version=99)
        )
        sm.create("other", canary + "-other", request_id="r")
        expect_error(lambda: sm.create("other", canary + "-changed", request_id="r"))
        list(sm.list().items)
        sm.stats()
        list(sm.audit())
        sm.history("svc")
        info = sm.get("svc")
        sm.delete("svc")
        expect_error(lambda: sm.reveal("svc"))
        expect_error(lambda: sm.reveal("svc", version=1))
        sm.rebuild_projections()

    assert len(errors) >= 10
    seen = [caplog.text, *map(_rendered, errors), repr(sm), repr(info), str(info)]
    with store_application(store_url) as app:
        seen.append(repr(app.repository.get(sm.get("str-secret").id)))
    for text in seen:
        assert canary not in text
        assert MASTER_KEY.hex() not in text
    with pytest.raises(Exception) as refused:
        pickle.dumps(sm)
    assert canary not in str(refused.value)
    assert canary.encode() not in pickle.dumps(info)

    stored = _all_stored_bytes(store_url)
    assert canary.encode() not in stored
    for form in (MASTER_KEY, MASTER_KEY.hex().encode(), base64.b64encode(MASTER_KEY)):
        assert form not in stored


def test_an_aws_secret_key_is_stored_sealed_when_issued(
    sm: SecretsManager, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    issued = sm.tokens.create(scopes=["secrets:read"], aws=True)

    secret = issued.secret_access_key
    assert secret is not None
    assert secret.encode() not in _all_stored_bytes(store_url)
    assert secret not in caplog.text
    assert secret not in repr(issued)
    assert secret not in repr(sm.tokens.list())
    assert sm.tokens.access_key(str(issued.access_key_id)) is not None
