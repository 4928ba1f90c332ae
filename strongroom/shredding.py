"""Drop-in crypto-shredding for any ``eventsourcing`` application.

Configuration only - set, in the application's environment::

    MAPPER_TOPIC=strongroom.shredding:ShreddingMapper
    CIPHER_TOPIC=strongroom.shredding:StrongroomKeys
    STRONGROOM_DATABASE_URL=postgresql://...   # where the keys live
    STRONGROOM_MASTER_KEY=...                  # or _FILE / _COMMAND

or mix ``CryptoShredding`` into the application class, which sets the two topics.
Every event is then sealed with AES-256-GCM under a data key of its aggregate, kept
in strongroom's key store under the key id ``str(aggregate_id)`` (the reSolve
pattern: one key per aggregate). ``forget(app, aggregate_id)`` destroys that key:
the aggregate's events and snapshots then read back as ``Shredded`` placeholders,
``repository.get`` raises ``AggregateShreddedError``, and projections, followers and
process applications receive the placeholders instead of crashing. Event classes
with ``SHREDDABLE = False`` are sealed under the store key and stay readable.
"""

from __future__ import annotations

import atexit
import base64
import threading
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.utils import Environment, EnvType

from strongroom import bootstrap
from strongroom.domain.errors import AggregateShreddedError, KeyDeletedError
from strongroom.domain.stream import Shredded
from strongroom.infrastructure.crypto import Sealer, derive, new_key
from strongroom.infrastructure.mapper import ShreddingMapper
from strongroom.infrastructure.store import StrongroomApplication
from strongroom.services.field_encryption import FieldEncryption
from strongroom.services.keys import KeyAPI
from strongroom.settings import Settings

__all__ = [
    "AggregateShreddedError",
    "CryptoShredding",
    "Shredded",
    "ShreddingMapper",
    "StrongroomKeys",
    "close_key_stores",
    "encryption_for",
    "forget",
    "keys_of",
]

MAPPER_TOPIC = "strongroom.shredding:ShreddingMapper"
CIPHER_TOPIC = "strongroom.shredding:StrongroomKeys"
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


def _open_store(env: Environment | Mapping[str, str] | None) -> StrongroomApplication:
    """One strongroom store per (URL, master keys) per process, shared by mappers."""
    given: dict[str, Any] = {}
    for field in _SETTINGS:
        value = env.get("STRONGROOM_" + field.upper()) if env is not None else None
        if value:
            given[field] = value
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


class StrongroomKeys:
    """The key source of a host application (set ``CIPHER_TOPIC`` to this class).

    eventsourcing constructs it from the application's environment and passes it
    to ``ShreddingMapper``. It is not a whole-event cipher: with any other mapper
    it refuses to encrypt rather than store plaintext.
    """

    def __init__(
        self, environment: Environment | Mapping[str, str] | None = None
    ) -> None:
        store = _open_store(environment)
        self.keys = KeyAPI(store)
        self.store: Sealer = store.keys.store

    def __repr__(self) -> str:
        return "StrongroomKeys(<keys hidden>)"

    def data_key(self, key_id: UUID, *, create: bool = False) -> Sealer | None:
        """The aggregate's data key (made on its first write); None once forgotten."""
        name = str(key_id)
        if create:
            try:
                secret: str | None = self.keys.get_or_create_secret(name, _new_secret)
            except KeyDeletedError:
                msg = f"aggregate {name} was forgotten: no new events can be sealed for it"
                raise AggregateShreddedError(msg) from None
        else:
            secret = self.keys.get_secret(name)
        return None if secret is None else Sealer(derive(secret.encode(), "events"))

    def forget(self, aggregate_id: UUID | str) -> bool:
        """Shred one aggregate: True once, then False."""
        return self.keys.delete_secret(str(aggregate_id))

    def encryption_for(self, aggregate_id: UUID | str) -> FieldEncryption:
        """Field-level encryption under the aggregate's key (forgotten with it)."""
        return self.keys.encryption_for(str(aggregate_id))

    def encrypt(self, plaintext: bytes) -> bytes:
        """Refuse: sealing needs the originator id, which only the mapper has."""
        del plaintext
        msg = f"StrongroomKeys needs MAPPER_TOPIC={MAPPER_TOPIC}"
        raise TypeError(msg)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Refuse, like ``encrypt``."""
        del ciphertext
        msg = f"StrongroomKeys needs MAPPER_TOPIC={MAPPER_TOPIC}"
        raise TypeError(msg)


def _new_secret() -> str:
    return base64.b64encode(new_key()).decode()


def keys_of(app: Application[Any]) -> StrongroomKeys:
    """The key source of an application configured for crypto-shredding."""
    mapper = app.mapper
    keys = mapper.keys if isinstance(mapper, ShreddingMapper) else None
    if not isinstance(keys, StrongroomKeys):
        msg = (
            f"{type(app).__name__} is not configured for crypto-shredding: set "
            f"MAPPER_TOPIC={MAPPER_TOPIC} and CIPHER_TOPIC={CIPHER_TOPIC}"
        )
        raise TypeError(msg)
    return keys


def forget(app: Application[Any], aggregate_id: UUID | str) -> bool:
    """Crypto-shred one aggregate of ``app``: True once, then False."""
    return keys_of(app).forget(aggregate_id)


def encryption_for(app: Application[Any], aggregate_id: UUID | str) -> FieldEncryption:
    """Field-level encryption under the key of one of ``app``'s aggregates."""
    return keys_of(app).encryption_for(aggregate_id)


class CryptoShredding:
    """Mixin for ``eventsourcing`` applications: seals every aggregate under its key.

    ``class Users(CryptoShredding, Application): ...`` - the strongroom store comes
    from ``STRONGROOM_DATABASE_URL`` and ``STRONGROOM_MASTER_KEY`` (or their _FILE
    and _COMMAND forms) in the application's environment.
    """

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """The application's environment, with the shredding mapper configured."""
        environment: Environment = super().construct_env(name, env)  # type: ignore[misc]
        environment.setdefault("MAPPER_TOPIC", MAPPER_TOPIC)
        environment.setdefault("CIPHER_TOPIC", CIPHER_TOPIC)
        return environment

    def forget(self, aggregate_id: UUID | str) -> bool:
        """Crypto-shred one aggregate: True once, then False."""
        return forget(self, aggregate_id)  # type: ignore[arg-type]

    def encryption_for(self, aggregate_id: UUID | str) -> FieldEncryption:
        """Field-level encryption under one aggregate's key."""
        return encryption_for(self, aggregate_id)  # type: ignore[arg-type]
