"""Raw access to a store's tables, for tests that look under the API."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from eventsourcing.sqlite import SQLiteCursor


def sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def query(
    url: str, statement: str, params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    """Run one statement (``?`` placeholders) against the store and return its rows."""
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            rows = conn.execute(statement, params).fetchall()
            conn.commit()
            return rows
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def id_param(url: str, value: Any) -> Any:
    """How an originator id is stored on this backend."""
    return value.hex if url.startswith("sqlite") else value


@contextmanager
def writer_holding_the_lock(url: str) -> Iterator[None]:
    """Another client in a write transaction on the events table, until exit."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with psycopg.connect(url) as conn:
        conn.execute("LOCK TABLE strongroom_events IN EXCLUSIVE MODE")
        yield
        conn.rollback()


@contextmanager
def store_application(url: str) -> Iterator[Any]:
    """A second application on a manager's store, opened the way the library opens
    one (``strongroom.bootstrap``): for looking under the face without its privates."""
    from strongroom import bootstrap
    from tests.conftest import MASTER_KEY

    app = bootstrap.open_application(bootstrap.configure(url, master_key=MASTER_KEY))
    try:
        yield app
    finally:
        app.close()


@contextmanager
def manager_on_application(url: str) -> Iterator[tuple[Any, Any]]:
    """A manager built from an application the test holds (the constructor is the
    seam): for tests that watch what that manager's application is asked to do."""
    from strongroom import SecretsManager, bootstrap
    from tests.conftest import MASTER_KEY

    config = bootstrap.configure(url, master_key=MASTER_KEY)
    app = bootstrap.open_application(config)
    manager = SecretsManager(
        app, app.views[0], backend=config.backend, location=config.location
    )
    try:
        yield manager, app
    finally:
        manager.close()


_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SET ")


@contextmanager
def counted_statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every query sent by this process while the block runs (not BEGIN/COMMIT)."""
    sent: list[str] = []

    def counting(cls: Any, name: str) -> None:
        original = getattr(cls, name)

        def wrapper(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
            text = (
                statement.decode() if isinstance(statement, bytes) else str(statement)
            )
            if not text.lstrip().upper().startswith(_CONTROL):
                sent.append(text)
            return original(self, statement, *args, **kwargs)

        monkeypatch.setattr(cls, name, wrapper)

    for cls in (psycopg.Cursor, SQLiteCursor):
        counting(cls, "execute")
        counting(cls, "executemany")
    yield sent
    monkeypatch.undo()
