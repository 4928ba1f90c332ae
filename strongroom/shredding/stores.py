"""The key stores of host applications: one open strongroom store per (URL, master
keys) per process, shared by every mapper and factory that names it."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from strongroom import bootstrap
from strongroom.settings import Settings

if TYPE_CHECKING:
    from eventsourcing.utils import Environment

    from strongroom.infrastructure.store import StrongroomApplication

_SETTINGS = (
    "database_url",
    "master_key",
    "master_key_file",
    "master_key_command",
    "master_key_previous",
    "master_key_previous_file",
    "master_key_previous_command",
    "home",
)
_stores: dict[tuple[str, ...], StrongroomApplication] = {}
_stores_lock = threading.Lock()


def open_store(
    env: Environment | Mapping[str, str] | None, *, database_url: str | None = None
) -> StrongroomApplication:
    """One strongroom store per (URL, master keys) per process, shared by mappers.

    ``database_url`` applies when the environment names none.
    """
    given: dict[str, Any] = {}
    for field in _SETTINGS:
        value = env.get("STRONGROOM_" + field.upper()) if env is not None else None
        if value:
            given[field] = value
    if database_url is not None:
        given.setdefault("database_url", database_url)
    config = bootstrap.configure(settings=Settings(**given))
    with _stores_lock:
        store = _stores.get(config.ident)
        if store is None:
            store = bootstrap.open_application(config, views=False)
            _stores[config.ident] = store
        return store


def close_key_stores() -> None:
    """Close every key store this process opened (idempotent; also runs at exit)."""
    with _stores_lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()


atexit.register(close_key_stores)
