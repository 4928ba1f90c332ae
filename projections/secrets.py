"""The secrets projection: listing, stats counters and the audit index, from the log.

One eventsourcing ``Projection`` keeps three read models in one view, so the rows,
the counters and the tracking record of a batch commit together (exactly once).
The logic here is backend-neutral; ``postgres.py`` and ``sqlite.py`` hold the SQL.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.projection import Projection

from strongroom.domain.reads import Reveal
from strongroom.domain.reservations import NameReservation
from strongroom.domain.results import Action, Status
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.secret_state import next_rotation
from strongroom.domain.stream import (
    TOPIC_CLASSES,
    Shredded,
    action_of,
    value_version_of,
)
from strongroom.projections.rows import (
    AuditFilter,
    AuditRow,
    Counts,
    ListFilter,
    Row,
)

TOPICS = (*TOPIC_CLASSES, NameReservation.Created.TOPIC, Reveal.Created.TOPIC)


class ViewTransaction(Protocol):
    """Row access inside one view transaction (a batch's writes, once per kind)."""

    def get_row(self, secret_id: UUID) -> Row | None:
        """The listing row of a secret, if any."""
        ...

    def bump(self, ns_key: str, status: str, delta: int) -> None:
        """Add ``delta`` to a counter."""

    def put_rows(self, rows: Sequence[Row]) -> None:
        """Insert or replace listing rows (and their entries in the expiry index)."""

    def add_audits(self, rows: Sequence[AuditRow]) -> None:
        """Index events."""

    def add_names(self, names: Sequence[tuple[UUID, str, str | None]]) -> None:
        """Record secrets' addresses (from their never-shredded name reservations)."""


class BatchWrites:
    """A batch's writes gathered in memory and written once per kind at the end.

    A secret touched by several events of a batch is read at most once and written
    once; counters get one net change each. Round trips per batch, not per event,
    are what a rebuild pays.
    """

    def __init__(self, txn: ViewTransaction) -> None:
        self._txn = txn
        self._rows: dict[UUID, Row | None] = {}
        self._dirty: dict[UUID, Row] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._audits: list[AuditRow] = []
        self._names: list[tuple[UUID, str, str | None]] = []

    def get_row(self, secret_id: UUID) -> Row | None:
        """The secret's row as of this batch, or None."""
        if secret_id not in self._rows:
            self._rows[secret_id] = self._txn.get_row(secret_id)
        return self._rows[secret_id]

    def known_new(self, secret_id: UUID) -> None:
        """Note that a secret starts in this batch."""
        # A Created event starts its secret's stream: there is no row to read.
        self._rows.setdefault(secret_id, None)

    def put_row(self, row: Row) -> None:
        """Replace a secret's row at flush."""
        self._rows[row.id] = row
        self._dirty[row.id] = row

    def bump(self, ns_key: str, status: str, delta: int) -> None:
        """Change a namespace's count of secrets in ``status``."""
        key = (ns_key, str(status))
        self._counts[key] = self._counts.get(key, 0) + delta

    def add_audit(self, row: AuditRow) -> None:
        """Record an audit row at flush."""
        self._audits.append(row)

    def add_name(self, secret_id: UUID, name: str, namespace: str | None) -> None:
        """Record a secret's name at flush."""
        self._names.append((secret_id, name, namespace))

    def flush(self) -> None:
        """Write what the batch changed."""
        if self._names:
            self._txn.add_names(self._names)
        if self._audits:
            self._txn.add_audits(self._audits)
        if self._dirty:
            self._txn.put_rows(list(self._dirty.values()))
        for (ns_key, status), delta in sorted(self._counts.items()):
            if delta:
                self._txn.bump(ns_key, status, delta)


class SecretsView(TrackingRecorder):
    """Backend-specific storage of the secrets projection."""

    @abstractmethod
    def batch(
        self, tracking: Tracking, first_id: int
    ) -> AbstractContextManager[ViewTransaction]:
        """A transaction that first claims ``first_id..tracking`` (else IntegrityError)."""

    @abstractmethod
    def list_rows(
        self, filters: ListFilter, after: tuple[str, str] | None, limit: int
    ) -> list[Row]:
        """Rows in ``(namespace NULLS FIRST, name)`` order after a keyset cursor."""

    @abstractmethod
    def counts(self, namespace: str | None, now: datetime, soon: datetime) -> Counts:
        """Counters, expiry and rotation-due counts (of one namespace, or all)."""

    @abstractmethod
    def due_deletions(self, now: datetime, limit: int) -> list[UUID]:
        """Secrets pending deletion whose deletion date is ``now`` or earlier."""

    @abstractmethod
    def audit_rows(
        self, filters: AuditFilter, after: int, limit: int
    ) -> list[tuple[AuditRow, str | None, str | None]]:
        """Audit rows with their secret's name and namespace, in log order."""

    @abstractmethod
    def reset(self, application_name: str) -> None:
        """Empty every read model and the tracking record, in one transaction."""


class SecretsProjection(Projection[SecretsView]):
    """Maintains listing rows, status counters and the audit index."""

    name = "strongroom_secrets"
    topics = TOPICS

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Process one event (eventsourcing's per-event entry point)."""
        self.process_batch(
            tracking.application_name, [(domain_event, tracking.notification_id)]
        )

    def process_batch(
        self, application_name: str, events: Sequence[tuple[Any, int]]
    ) -> None:
        """Apply a batch of (event, notification id) and track it once, atomically."""
        tracking = Tracking(application_name, events[-1][1])
        with self.view.batch(tracking, events[0][1]) as txn:
            buffered = BatchWrites(txn)
            for item, position in events:
                if isinstance(item, SecretAggregate.Created):
                    buffered.known_new(item.originator_id)
                apply_event(buffered, item, position)
            buffered.flush()


def apply_event(txn: BatchWrites, item: Any, position: int) -> None:
    """Fold one event (or shredded placeholder) into the read models."""
    if isinstance(item, NameReservation.Created):
        txn.add_name(item.secret_id, item.name, item.namespace)
        return
    if isinstance(item, Reveal.Created):
        txn.add_audit(
            AuditRow(
                position=position,
                secret_id=item.secret_id,
                action=str(Action.REVEALED),
                actor=item.actor,
                at=item.timestamp,
                version=item.version,
            )
        )
        return
    secret_id: UUID = item.originator_id
    txn.add_audit(_audit_row(item, position))
    if isinstance(item, Shredded):
        return  # the tombstone that follows carries what the listing keeps
    before = txn.get_row(secret_id)
    after = _next_row(before, item)
    if after is None:
        return
    if before is not None:
        txn.bump(before.ns_key, before.status, -1)
    txn.bump(after.ns_key, after.status, +1)
    txn.put_row(after)


def _audit_row(item: Any, position: int) -> AuditRow:
    return AuditRow(
        position=position,
        secret_id=item.originator_id,
        action=str(action_of(item)),
        actor=item.actor,
        at=item.timestamp or datetime.min,
        version=value_version_of(item),
    )


def _next_row(before: Row | None, item: Any) -> Row | None:
    if isinstance(item, SecretAggregate.Created):
        return Row(
            id=item.originator_id,
            name=item.name,
            namespace=item.namespace,
            version=1,
            status=Status.ACTIVE,
            created_at=item.timestamp,
            created_by=item.actor,
            updated_at=item.timestamp,
            updated_by=item.actor,
            description=item.description,
            token_type=item.token_type,
            allowed_apps=sorted(item.allowed_apps),
            envs=sorted(item.envs),
            expires_at=item.expires_at,
            tags=dict(item.tags),
        )
    if isinstance(item, SecretAggregate.Deleted):
        # Metadata is shredded with the value: the tombstone keeps the bare facts.
        return Row(
            id=item.originator_id,
            name=item.name,
            namespace=item.namespace,
            version=item.value_version,
            status=Status.DELETED,
            created_at=item.created_at,
            created_by=item.created_by,
            updated_at=item.timestamp,
            updated_by=item.actor,
        )
    if before is None:
        return None
    row = Row(**vars(before))
    row.updated_at = item.timestamp
    row.updated_by = item.actor
    if isinstance(
        item,
        (
            SecretAggregate.ValueChanged,
            SecretAggregate.Promoted,
            SecretAggregate.Rotated,
        ),
    ):
        row.version = item.value_version
    if isinstance(item, SecretAggregate.Rotated):
        row.last_rotated_at = item.timestamp
    elif isinstance(item, SecretAggregate.MetadataChanged):
        for key, val in item.changes.items():
            setattr(
                row, key, sorted(val or ()) if key in {"allowed_apps", "envs"} else val
            )
        row.tags = dict(row.tags or {})
    elif isinstance(item, SecretAggregate.Revoked):
        row.status = Status.REVOKED
    elif isinstance(item, SecretAggregate.Reinstated):
        row.status = Status.ACTIVE
    elif isinstance(item, SecretAggregate.DeletionScheduled):
        row.status = Status.PENDING_DELETION
        row.deletion_date = item.deletion_date
    elif isinstance(item, SecretAggregate.DeletionCancelled):
        row.status = Status(item.status)
        row.deletion_date = None
    row.next_rotation_at = next_rotation(
        row.created_at, row.last_rotated_at, row.rotation_interval
    )
    return row


def iter_audit(
    view: SecretsView, filters: AuditFilter, page: int = 500
) -> Iterator[tuple[AuditRow, str | None, str | None]]:
    """Stream audit rows page by page (bounded memory)."""
    after = 0
    while True:
        rows = view.audit_rows(filters, after, page)
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1][0].position
