"""Reservation streams: names and aggregate key ids, taken forever once used.

Each reservation is its own event stream whose id the infrastructure derives from
the name (or key id). Saving the first event of that stream together with the thing
it reserves makes the event store's primary key settle every race.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event


class NameReservation(Aggregate):
    """The name ``(namespace, name)`` belongs to one secret id, forever."""

    TOPIC = "strongroom:NameReservation"

    class Created(Aggregate.Created):
        """The name was taken by a secret."""

        TOPIC = "strongroom:NameReservation.Reserved.v1"
        SHREDDABLE: ClassVar[bool] = False
        secret_id: UUID
        name: str
        namespace: str | None

    def __init__(self, secret_id: UUID, name: str, namespace: str | None) -> None:
        self.secret_id = secret_id
        self.name = name
        self.namespace = namespace

    @classmethod
    def reserve(
        cls,
        *,
        reservation_id: UUID,
        secret_id: UUID,
        name: str,
        namespace: str | None,
        at: datetime,
    ) -> NameReservation:
        """Reserve a name for a secret."""
        return cls._create(
            cls.Created,
            id=reservation_id,
            timestamp=at,
            secret_id=secret_id,
            name=name,
            namespace=namespace,
        )


class KeyReservation(Aggregate):
    """An aggregate key id of the reSolve-style key API: issued once, ever."""

    TOPIC = "strongroom:KeyReservation"

    class Created(Aggregate.Created):
        """KeyIssued: a key was set under this id (the key itself lives only in the key store)."""

        TOPIC = "strongroom:KeyReservation.KeyIssued.v1"
        SHREDDABLE: ClassVar[bool] = False
        key_id: str
        actor: str | None

    class Imported(Created):
        """KeyImported: the id was restored from an export, live or as a tombstone."""

        TOPIC = "strongroom:KeyReservation.KeyImported.v1"
        shredded: bool

    class KeyShredded(Aggregate.Event):
        """The key was destroyed; the id stays used."""

        TOPIC = "strongroom:KeyReservation.KeyShredded.v1"
        SHREDDABLE: ClassVar[bool] = False
        actor: str | None

    def __init__(
        self, key_id: str, actor: str | None, *, shredded: bool = False
    ) -> None:
        self.key_id = key_id
        self.shredded = shredded

    @classmethod
    def issue(
        cls, *, reservation_id: UUID, key_id: str, at: datetime, actor: str | None
    ) -> KeyReservation:
        """Record that a key was set under ``key_id``."""
        return cls._create(
            cls.Created, id=reservation_id, timestamp=at, key_id=key_id, actor=actor
        )

    @classmethod
    def restore(
        cls,
        *,
        reservation_id: UUID,
        key_id: str,
        shredded: bool,
        at: datetime,
        actor: str | None,
    ) -> KeyReservation:
        """Record that ``key_id`` was imported (``shredded``: as a tombstone)."""
        return cls._create(
            cls.Imported,
            id=reservation_id,
            timestamp=at,
            key_id=key_id,
            actor=actor,
            shredded=shredded,
        )

    def shred(self, *, at: datetime, actor: str | None) -> bool:
        """Record the key's destruction; False if it was already destroyed."""
        if self.shredded:
            return False
        self._key_shredded(actor=actor, timestamp=at)
        return True

    @event(KeyShredded)
    def _key_shredded(self, actor: str | None, timestamp: datetime) -> None:
        self.shredded = True


class RequestReceipt(Aggregate):
    """A write made under a client's request id: retried, it is answered, not redone.

    Its stream id is derived from the request id, so saving the receipt with the
    write it records makes the event store settle a race between two retries. It
    holds a keyed fingerprint of the arguments, never the arguments themselves.
    """

    TOPIC = "strongroom:RequestReceipt"

    class Created(Aggregate.Created):
        """The request was carried out."""

        TOPIC = "strongroom:RequestReceipt.Recorded.v1"
        SHREDDABLE: ClassVar[bool] = False
        operation: str
        fingerprint: str
        secret_id: UUID
        value_version: int

    def __init__(
        self, operation: str, fingerprint: str, secret_id: UUID, value_version: int
    ) -> None:
        self.operation = operation
        self.fingerprint = fingerprint
        self.secret_id = secret_id
        self.value_version = value_version

    @classmethod
    def record(
        cls,
        *,
        receipt_id: UUID,
        operation: str,
        fingerprint: str,
        secret_id: UUID,
        value_version: int,
        at: datetime,
    ) -> RequestReceipt:
        """Record that a request left ``secret_id`` at ``value_version``."""
        return cls._create(
            cls.Created,
            id=receipt_id,
            timestamp=at,
            operation=operation,
            fingerprint=fingerprint,
            secret_id=secret_id,
            value_version=value_version,
        )
