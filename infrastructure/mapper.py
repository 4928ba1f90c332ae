"""The shredding mapper: every event sealed, shreddable ones under their aggregate's key.

Stored state layouts (the first byte says which):

- ``S`` shreddable: ``S || len(audit) || audit || body``. ``body`` is the whole event
  state under the aggregate's data key; ``audit`` holds only the event class's
  ``AUDIT_FIELDS`` (when, who) under the store key, so the log can still say who
  did what, and when, after the data key is destroyed.
- ``K`` kept: ``K || state`` under the store key (tombstones, reservations).
- ``H`` head: ``H || state`` under the aggregate's data key: a secret's current
  state as plain JSON (no audit part: heads are deleted with the key, never read
  shredded). Reads of the current value decode this, so it skips the transcoder.

Both bind originator id, originator version and topic as associated data. Once a
data key is gone, reading a shreddable event yields a ``Shredded`` placeholder
instead of raising, so repositories and projections keep running.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import register_topic

from strongroom.domain.errors import DecryptionError, SecretDeletedError
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.stream import Head, Shredded

if TYPE_CHECKING:
    from eventsourcing.domain import DomainEventProtocol
    from eventsourcing.persistence import Cipher, Compressor

    from strongroom.infrastructure.crypto import Sealer

# Snapshot classes are not registered by their aggregate's metaclass, unlike events.
register_topic(Head.TOPIC, Head)

SHREDDABLE = b"S"
KEPT = b"K"
HEAD = b"H"
# The head's datetime fields, stored as ISO 8601 strings.
_HEAD_MOMENTS = ("created_on", "expires_at", "deletion_date", "last_rotated_at")
_LEN = 4


@runtime_checkable
class KeySource(Protocol):
    """Where the mapper gets keys: the store key and each aggregate's data key."""

    store: Sealer

    def data_key(self, key_id: UUID) -> Sealer | None:
        """The aggregate's data key (for its head); None once shredded."""
        ...

    def sealing_key(self, domain_event: DomainEventProtocol[Any]) -> Sealer | None:
        """The data key to seal one of an aggregate's new events with."""
        ...

    def opening_key(self, stored_event: StoredEvent) -> Sealer | None:
        """The data key to open a stored event with; None once shredded."""
        ...


def _aad(originator_id: UUID | str, originator_version: int, topic: str) -> bytes:
    return f"{originator_id}\x00{originator_version}\x00{topic}".encode()


class ShreddingMapper(Mapper[UUID]):
    """A Mapper that seals event state with AES-256-GCM under per-aggregate keys."""

    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
        *,
        keys: KeySource | None = None,
    ) -> None:
        # Sealing replaces eventsourcing's cipher; compressing ciphertext is useless.
        # A host application configured by CIPHER_TOPIC passes its key source as the
        # "cipher": the only object eventsourcing builds from the environment and
        # hands to every mapper it constructs (followers and runners included).
        super().__init__(transcoder=transcoder)
        del compressor
        if keys is None and isinstance(cipher, KeySource):
            keys = cipher
        self._keys = keys

    @property
    def keys(self) -> KeySource:
        """The key ring this mapper seals with."""
        if self._keys is None:
            msg = "the shredding mapper has no key ring yet"
            raise RuntimeError(msg)
        return self._keys

    @keys.setter
    def keys(self, keys: KeySource) -> None:
        self._keys = keys

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        """Seal a domain event."""
        plain = super().to_stored_event(domain_event)
        aad = _aad(plain.originator_id, plain.originator_version, plain.topic)
        cls = type(domain_event)
        if not getattr(cls, "SHREDDABLE", True):
            state = KEPT + self.keys.store.seal(plain.state, aad)
        else:
            data_key = self.keys.sealing_key(domain_event)
            if data_key is None:
                msg = "the aggregate was shredded: its data key no longer exists"
                raise SecretDeletedError(msg)
            fields = vars(domain_event)
            audit = {
                name: fields[name]
                for name in getattr(cls, "AUDIT_FIELDS", ("timestamp",))
                if name in fields
            }
            head = self.keys.store.seal(self.transcoder.encode(audit), aad)
            body = data_key.seal(plain.state, aad)
            state = SHREDDABLE + len(head).to_bytes(_LEN, "big") + head + body
        return StoredEvent(
            originator_id=plain.originator_id,
            originator_version=plain.originator_version,
            topic=plain.topic,
            state=state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        """Open a stored event: the domain event, or a Shredded placeholder."""
        state = stored_event.state
        aad = _aad(
            stored_event.originator_id,
            stored_event.originator_version,
            stored_event.topic,
        )
        kind = state[:1]
        if kind == KEPT:
            plain = self.keys.store.open(state[1:], aad)
        elif kind == SHREDDABLE and len(state) > 1 + _LEN:
            size = int.from_bytes(state[1 : 1 + _LEN], "big")
            head = state[1 + _LEN : 1 + _LEN + size]
            data_key = self.keys.opening_key(stored_event)
            if data_key is None:
                audit = self.transcoder.decode(self.keys.store.open(head, aad))
                return Shredded(
                    originator_id=cast(UUID, stored_event.originator_id),
                    originator_version=stored_event.originator_version,
                    topic=stored_event.topic,
                    audit=audit,
                )
            plain = data_key.open(state[1 + _LEN + size :], aad)
        else:
            raise DecryptionError("stored data failed authentication")
        return super().to_domain_event(
            StoredEvent(
                originator_id=stored_event.originator_id,
                originator_version=stored_event.originator_version,
                topic=stored_event.topic,
                state=plain,
            )
        )

    def seal_head(self, head: Head) -> bytes:
        """A head's stored state: its JSON sealed under the aggregate's data key."""
        doc = dict(head.state)
        for name in _HEAD_MOMENTS:
            moment = doc[name]
            doc[name] = None if moment is None else moment.isoformat()
        doc["modified_on"] = head.timestamp.isoformat()
        data_key = self.keys.data_key(head.originator_id)
        if data_key is None:
            msg = "the aggregate was shredded: its data key no longer exists"
            raise SecretDeletedError(msg)
        plain = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        aad = _aad(head.originator_id, head.originator_version, Head.TOPIC)
        return HEAD + data_key.seal(plain, aad)

    def open_head(self, aggregate_id: UUID, version: int, state: bytes) -> Head | None:
        """A stored head, or None if its data key is gone; DecryptionError if altered."""
        if state[:1] != HEAD:
            # A head stored before the plain-JSON layout.
            stored = StoredEvent(aggregate_id, version, Head.TOPIC, state)
            head = self.to_domain_event(stored)
            return head if isinstance(head, Head) else None
        data_key = self.keys.data_key(aggregate_id)
        if data_key is None:
            return None
        doc = json.loads(
            data_key.open(state[1:], _aad(aggregate_id, version, Head.TOPIC))
        )
        for name in _HEAD_MOMENTS:
            # Heads saved before a moment existed lack it: Head fills in defaults.
            moment = doc.get(name)
            if moment is not None:
                doc[name] = datetime.fromisoformat(moment)
        return Head(
            originator_id=aggregate_id,
            originator_version=version,
            timestamp=datetime.fromisoformat(doc.pop("modified_on")),
            topic=SecretAggregate.TOPIC,
            state=doc,
        )
