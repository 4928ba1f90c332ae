"""The anchor of the HTTP benchmark: FastAPI, uvicorn and a psycopg pool, nothing else.

    BARE_DATABASE_URL=postgresql://... BARE_TOKEN=... \\
        python bench/bare_app.py --port 8300 [--workers N]

What a team would write by hand to serve secrets from PostgreSQL with no event log,
no encryption and no audit: each handler compares the bearer token with a constant
and runs one prepared statement through a pool, the way strongroom's handlers run
in FastAPI's threadpool. Rows are 1 KB. ``seed(url, names)`` makes its table. It
runs under the same uvicorn set-up as ``strongroom serve`` (the same HTTP protocol
class, with TCP_NODELAY on every connection, and the same worker supervisor).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Header, HTTPException
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

ROW = "x" * 1024
_TABLE = (
    "CREATE TABLE IF NOT EXISTS kv (name text PRIMARY KEY, value text NOT NULL, "
    "description text NOT NULL DEFAULT '', version int NOT NULL DEFAULT 1, "
    "created_at timestamptz NOT NULL DEFAULT now())"
)
_AUDIT = (
    "CREATE TABLE IF NOT EXISTS kv_log (id bigserial PRIMARY KEY, name text, "
    "action text, at timestamptz NOT NULL DEFAULT now())"
)
_META = "SELECT name, description, version, created_at FROM kv WHERE name = %s"
_VALUE = "SELECT name, value, version FROM kv WHERE name = %s"
_MANY = "SELECT name, value FROM kv WHERE name = ANY(%s)"
_PAGE = (
    "SELECT name, description, version, created_at FROM kv WHERE name > %s "
    "ORDER BY name LIMIT %s"
)
# The three inserts a create makes (the row, a version, a log line), one statement.
_CREATE = (
    "WITH a AS (INSERT INTO kv (name, value) VALUES (%(name)s, %(value)s) "
    "RETURNING name, version, created_at), "
    "b AS (INSERT INTO kv_log (name, action) VALUES (%(name)s, 'created')), "
    "c AS (INSERT INTO kv_log (name, action) VALUES (%(name)s, 'version 1')) "
    "SELECT name, version, created_at FROM a"
)


def seed(url: str, names: list[str]) -> None:
    """Make the anchor's tables and one 1 KB row per name."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_TABLE)
        conn.execute(_AUDIT)
        with conn.cursor() as curs:
            curs.executemany(
                "INSERT INTO kv (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [(name, ROW) for name in names],
            )


pool = ConnectionPool(
    os.environ.get("BARE_DATABASE_URL", ""),
    min_size=4,
    max_size=16,
    open=False,
    kwargs={"autocommit": True, "row_factory": dict_row},
)
TOKEN = os.environ.get("BARE_TOKEN", "")


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    pool.open(wait=True)
    yield
    pool.close()


app = FastAPI(lifespan=lifespan)


def _check(authorization: str | None) -> None:
    kind, _, token = (authorization or "").partition(" ")
    if kind.lower() != "bearer" or not hmac.compare_digest(token, TOKEN):
        raise HTTPException(401, "unauthenticated")


def _one(statement: str, params: Any) -> dict[str, Any]:
    with pool.connection() as conn:
        row = conn.execute(statement, params, prepare=True).fetchone()
    if row is None:
        raise HTTPException(404, "not found")
    return dict(row)


class CreateIn(BaseModel):
    name: str
    value: str


class BatchIn(BaseModel):
    names: list[str]


@app.get("/kv/{name:path}/value")
def value(name: str, authorization: str | None = Header(None)) -> dict[str, Any]:
    _check(authorization)
    return _one(_VALUE, (name,))


@app.get("/kv/{name:path}")
def metadata(name: str, authorization: str | None = Header(None)) -> dict[str, Any]:
    _check(authorization)
    return _one(_META, (name,))


@app.post("/kv", status_code=201)
def create(body: CreateIn, authorization: str | None = Header(None)) -> dict[str, Any]:
    _check(authorization)
    return _one(_CREATE, {"name": body.name, "value": body.value})


@app.post("/batch/values")
def batch(body: BatchIn, authorization: str | None = Header(None)) -> dict[str, Any]:
    _check(authorization)
    with pool.connection() as conn:
        rows = conn.execute(_MANY, (body.names,), prepare=True).fetchall()
    return {"values": {row["name"]: row["value"] for row in rows}}


@app.get("/kv")
def page(
    after: str = "", limit: int = 100, authorization: str | None = Header(None)
) -> list[dict[str, Any]]:
    _check(authorization)
    with pool.connection() as conn:
        return [dict(r) for r in conn.execute(_PAGE, (after, limit), prepare=True)]


def main() -> None:
    """Serve the bare app the way ``strongroom serve`` serves strongroom."""
    import argparse

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from strongroom.http.serving import NoDelayH11Protocol

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    options: dict[str, Any] = {
        "port": args.port,
        "log_level": "warning",
        "access_log": False,
        "server_header": False,
        "http": NoDelayH11Protocol,
    }
    if args.workers == 1:
        uvicorn.Server(uvicorn.Config(app, **options)).run()
        return
    config = uvicorn.Config("bare_app:app", workers=args.workers, **options)
    Multiprocess(config, sockets=[config.bind_socket()]).run()


if __name__ == "__main__":
    main()
