"""Shared fixtures: real SQLite files and real PostgreSQL databases, made and dropped per test."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from strongroom import SecretsManager

MASTER_KEY = bytes.fromhex(
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
)
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The admin URL; skips (or fails under CI) when PostgreSQL is unreachable."""
    url = os.environ.get("STRONGROOM_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        if _in_ci():
            pytest.fail(f"PostgreSQL unreachable under CI: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    return url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    yield from _fresh_database(postgres_admin_url)


def _fresh_database(postgres_admin_url: str) -> Iterator[str]:
    name = f"strongroom_test_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(postgres_admin_url)._replace(path="/" + name))
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file for this test."""
    (tmp_path / "store").mkdir(exist_ok=True)
    return "sqlite:///" + str(tmp_path / "store" / "strongroom.db")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test."""
    return str(request.param)


@pytest.fixture
def store_url(backend: str, request: pytest.FixtureRequest) -> str:
    """A fresh store of the backend under test."""
    fixture = "sqlite_url" if backend == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def other_store_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> str:
    """A second fresh store of the backend under test (import targets, copies)."""
    if backend == "sqlite":
        (tmp_path / "other").mkdir(exist_ok=True)
        return "sqlite:///" + str(tmp_path / "other" / "strongroom.db")
    return str(request.getfixturevalue("postgres_url_2"))


@pytest.fixture
def postgres_url_2(postgres_admin_url: str) -> Iterator[str]:
    """Another fresh PostgreSQL database for this test."""
    yield from _fresh_database(postgres_admin_url)


@pytest.fixture
def sm(store_url: str) -> Iterator[SecretsManager]:
    """An open manager on a fresh store."""
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as manager:
        yield manager


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the user's real data dir and settings."""
    for var in (
        "STRONGROOM_DATABASE_URL",
        "STRONGROOM_MASTER_KEY",
        "STRONGROOM_MASTER_KEY_FILE",
        "STRONGROOM_MASTER_KEY_COMMAND",
        "STRONGROOM_MASTER_KEY_PREVIOUS",
        "STRONGROOM_MASTER_KEY_PREVIOUS_FILE",
        "STRONGROOM_MASTER_KEY_PREVIOUS_COMMAND",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("STRONGROOM_HOME", str(tmp_path / "home"))
