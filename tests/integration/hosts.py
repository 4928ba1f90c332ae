"""Host applications' environments for the shredding tests: eventsourcing's own
settings plus strongroom's, in each supported configuration."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from strongroom.shredding import CIPHER_TOPIC, MAPPER_TOPIC
from tests.conftest import MASTER_KEY

CONFIGURATIONS = ("topics", "same_database", "separate_database")
"""``topics``: MAPPER_TOPIC/CIPHER_TOPIC over eventsourcing's own persistence;
``same_database``: a shredding persistence module, keys in the app's database;
``separate_database``: a shredding persistence module, keys in another store."""


def postgres_settings(url: str) -> dict[str, str]:
    """eventsourcing's PostgreSQL settings for a database URL."""
    parts = urlsplit(url)
    return {
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
    }


def host_env(
    backend: str,
    configuration: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> dict[str, str]:
    """A host application's environment: its event store and strongroom's keys."""
    env = {"STRONGROOM_MASTER_KEY": base64.b64encode(MASTER_KEY).decode()}
    if backend == "sqlite":
        (tmp_path / "keys").mkdir(exist_ok=True)
        env["SQLITE_DBNAME"] = str(tmp_path / "host.db")
        elsewhere = "sqlite:///" + str(tmp_path / "keys" / "strongroom.db")
    else:
        own = str(request.getfixturevalue("postgres_url"))
        env.update(postgres_settings(own))
        elsewhere = str(request.getfixturevalue("postgres_url_2"))
    if configuration == "topics":
        env["PERSISTENCE_MODULE"] = f"eventsourcing.{backend}"
        env["MAPPER_TOPIC"] = MAPPER_TOPIC
        env["CIPHER_TOPIC"] = CIPHER_TOPIC
        # PostgreSQL hosts kept their keys in their own database before the
        # shredding modules existed; SQLite ones in a store of their own.
        env["STRONGROOM_DATABASE_URL"] = (
            elsewhere
            if backend == "sqlite"
            else str(request.getfixturevalue("postgres_url"))
        )
    else:
        env["PERSISTENCE_MODULE"] = f"strongroom.shredding.{backend}"
        if configuration == "separate_database":
            env["STRONGROOM_DATABASE_URL"] = elsewhere
    return env


def keys_url(env: dict[str, str]) -> str:
    """Where a host environment keeps its keys."""
    return env.get("STRONGROOM_DATABASE_URL") or own_url(env)


def own_url(env: dict[str, str]) -> str:
    """The host application's own database, as a URL."""
    if "SQLITE_DBNAME" in env:
        return "sqlite:///" + env["SQLITE_DBNAME"]
    return (
        f"postgresql://{env['POSTGRES_USER']}@{env['POSTGRES_HOST']}:"
        f"{env['POSTGRES_PORT']}/{env['POSTGRES_DBNAME']}"
    )
