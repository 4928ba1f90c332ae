"""Read auditing: each audited reveal of a value is a fact in the event log.

Every reveal is its own one-event stream, so concurrent readers never contend with
each other or with writers of the secret. The record holds who read which secret
and version, and when - never the value.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from strongroom.domain.results import Action


class Reveal(Aggregate):
    """One audited reveal of a secret's value."""

    TOPIC = "strongroom:Reveal"

    class Created(Aggregate.Created):
        """Revealed: someone read a value version of a secret."""

        TOPIC = "strongroom:Secret.Revealed.v1"
        SHREDDABLE: ClassVar[bool] = False
        ACTION: ClassVar[Action] = Action.REVEALED
        secret_id: UUID
        version: int
        actor: str | None

    def __init__(self, secret_id: UUID, version: int, actor: str | None) -> None:
        self.secret_id = secret_id
        self.version = version
        self.actor = actor

    @classmethod
    def record(
        cls,
        *,
        record_id: UUID,
        secret_id: UUID,
        version: int,
        actor: str | None,
        at: datetime,
    ) -> Reveal:
        """Record that ``actor`` revealed ``version`` of a secret at ``at``."""
        return cls._create(
            cls.Created,
            id=record_id,
            timestamp=at,
            secret_id=secret_id,
            version=version,
            actor=actor,
        )
