"""Drop-in crypto-shredding for any ``eventsourcing`` application.

Set, in the application's environment, one of::

    PERSISTENCE_MODULE=strongroom.shredding.postgres   # or strongroom.shredding.sqlite
    STRONGROOM_MASTER_KEY=...                          # or _FILE / _COMMAND

(eventsourcing's ``POSTGRES_*`` / ``SQLITE_*`` settings unchanged; the keys live in
the application's own database unless ``STRONGROOM_DATABASE_URL`` names another), or,
with any persistence module::

    MAPPER_TOPIC=strongroom.shredding:ShreddingMapper
    CIPHER_TOPIC=strongroom.shredding:StrongroomKeys
    STRONGROOM_DATABASE_URL=postgresql://...   # where the keys live

or mix ``CryptoShredding`` into the application class, which sets the two topics.
Every event is then sealed with AES-256-GCM under a data key of its aggregate, kept
in strongroom's key store under the key id ``str(aggregate_id)`` (the reSolve
pattern: one key per aggregate). ``forget(app, *aggregate_ids)`` destroys those
keys in one transaction: the aggregates' events and snapshots then read back as
``Shredded`` placeholders, ``repository.get`` raises ``AggregateShreddedError``, and
projections, followers and process applications receive the placeholders instead
of crashing. Event classes with ``SHREDDABLE = False`` are sealed under the store
key and stay readable.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.utils import Environment, EnvType

from strongroom.domain.errors import AggregateShreddedError
from strongroom.domain.stream import Shredded
from strongroom.infrastructure.mapper import ShreddingMapper
from strongroom.services.field_encryption import FieldEncryption
from strongroom.shredding.keys import CIPHER_TOPIC, MAPPER_TOPIC, StrongroomKeys
from strongroom.shredding.stores import close_key_stores

__all__ = [
    "CIPHER_TOPIC",
    "MAPPER_TOPIC",
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


def keys_of(app: Application[Any]) -> StrongroomKeys:
    """The key source of an application configured for crypto-shredding."""
    mapper = app.mapper
    keys = mapper.keys if isinstance(mapper, ShreddingMapper) else None
    if not isinstance(keys, StrongroomKeys):
        msg = (
            f"{type(app).__name__} is not configured for crypto-shredding: set "
            "PERSISTENCE_MODULE=strongroom.shredding.postgres (or .sqlite), or "
            f"MAPPER_TOPIC={MAPPER_TOPIC} and CIPHER_TOPIC={CIPHER_TOPIC}"
        )
        raise TypeError(msg)
    return keys


def forget(app: Application[Any], *aggregate_ids: UUID | str) -> list[UUID | str]:
    """Crypto-shred aggregates of ``app`` in one transaction (a data subject at once).

    Returns the ids this call forgot, in the order given; ids forgotten before, or
    never saved, are left out.
    """
    return keys_of(app).forget(*aggregate_ids)


def encryption_for(app: Application[Any], aggregate_id: UUID | str) -> FieldEncryption:
    """Field-level encryption under the key of one of ``app``'s aggregates."""
    return keys_of(app).encryption_for(aggregate_id)


class CryptoShredding:
    """Mixin for ``eventsourcing`` applications: seals every aggregate under its key.

    ``class Users(CryptoShredding, Application): ...`` - the strongroom store comes
    from ``STRONGROOM_DATABASE_URL`` and ``STRONGROOM_MASTER_KEY`` (or their _FILE
    and _COMMAND forms) in the application's environment, or, under a shredding
    persistence module, is the application's own database.
    """

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """The application's environment, with the shredding mapper configured."""
        environment: Environment = super().construct_env(name, env)  # type: ignore[misc]
        environment.setdefault("MAPPER_TOPIC", MAPPER_TOPIC)
        environment.setdefault("CIPHER_TOPIC", CIPHER_TOPIC)
        return environment

    def forget(self, *aggregate_ids: UUID | str) -> list[UUID | str]:
        """Crypto-shred aggregates in one transaction; returns those forgotten now."""
        return forget(self, *aggregate_ids)  # type: ignore[arg-type]

    def encryption_for(self, aggregate_id: UUID | str) -> FieldEncryption:
        """Field-level encryption under one aggregate's key."""
        return encryption_for(self, aggregate_id)  # type: ignore[arg-type]
