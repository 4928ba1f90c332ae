"""What the shredding persistence modules add to eventsourcing's factories and
recorders, whatever the backend: events read with their aggregates' keys, writes
that check their keys.

- Reads: every page of events (``select_events``, ``select_notifications``) comes
  back with each aggregate's wrapped data key, found in one more query per page (or
  in the same query, where the backend joins them), so a ``repository.get`` of an
  aggregate with any number of events resolves its key once.
- Writes: when the key store is the application's own database, a new aggregate's
  key is written, and the existing keys of the save are locked and checked, inside
  the transaction of its events (``keys_within``). Otherwise the new keys are
  stored, and the others checked, just before the insert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    Notification,
)

from strongroom.domain.errors import AggregateShreddedError
from strongroom.infrastructure.mapper import SHREDDABLE, ShreddingMapper
from strongroom.shredding.keys import StrongroomKeys

if TYPE_CHECKING:
    from uuid import UUID

    from eventsourcing.persistence import (
        Mapper,
        ProcessRecorder,
        StoredEvent,
        Transcoder,
    )
    from eventsourcing.utils import Environment


class KeyedAggregateRecorder(AggregateRecorder):
    """Mixin for an eventsourcing aggregate recorder (events, snapshots)."""

    host_keys: StrongroomKeys
    """Set by the factory before the recorder is used."""
    keys_within = False
    """True when new keys and key checks join the insert's own transaction."""

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The aggregate's events, each with its wrapped data key."""
        events = super().select_events(  # type: ignore[safe-super]
            originator_id, gt=gt, lte=lte, desc=desc, limit=limit
        )
        return self.host_keys.attach(events)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert events sealed under keys that exist; AggregateShreddedError if one
        of their aggregates was forgotten meanwhile."""
        keys = self.host_keys
        try:
            if not self.keys_within:
                keys.write_before(stored_events)
            ids = super().insert_events(stored_events, **kwargs)  # type: ignore[safe-super]
        except Exception as exc:
            keys.failed(stored_events)
            if isinstance(exc, AggregateShreddedError) or self.keys_destroyed(exc):
                keys.lost(
                    e.originator_id for e in stored_events if e.state[:1] == SHREDDABLE
                )
                msg = "an aggregate of this save was forgotten: its key is destroyed"
                raise AggregateShreddedError(msg) from None
            raise
        keys.saved(stored_events)
        return ids

    def keys_destroyed(self, exc: Exception) -> bool:
        """Whether a failed insert found a data key destroyed (backend-specific)."""
        del exc
        return False


class KeyedApplicationRecorder(KeyedAggregateRecorder, ApplicationRecorder):
    """Mixin for an eventsourcing application (or process) recorder."""

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """A page of notifications, each with its aggregate's wrapped data key."""
        page = super().select_notifications(  # type: ignore[safe-super]
            start, limit, stop, topics, inclusive_of_start=inclusive_of_start
        )
        return self.host_keys.attach(page)

    def _insert_events(self, *args: Any, **kwargs: Any) -> Any:
        # eventsourcing calls this (cursor, stored events) inside the insert's
        # transaction, before the events: the place for new keys and key checks.
        if self.keys_within:
            self.host_keys.write_within(args[0], args[1])
        return super()._insert_events(*args, **kwargs)  # type: ignore[misc]


class KeyedFactory:
    """Mixin for an eventsourcing infrastructure factory: its mappers seal with, and
    its recorders read and write, strongroom's per-aggregate keys."""

    env: Environment
    host_keys: StrongroomKeys
    same_database = False
    """True when the key store is the application's own database."""

    def open_keys(
        self,
        own_url: str | None,
        *,
        is_own: Callable[[Mapping[str, str]], bool],
        within: bool = True,
    ) -> None:
        """Open the key store (``own_url`` unless the environment names one)."""
        self.host_keys = StrongroomKeys(self.env, database_url=own_url)
        self.host_keys.verified_writes = True
        self.same_database = is_own(self.host_keys.store_env)
        self.host_keys.keys_within = self.same_database and within

    if TYPE_CHECKING:
        # Provided by the eventsourcing factory this is mixed into.
        def transcoder(self) -> Transcoder:
            """eventsourcing's transcoder."""
            ...

    def mapper(
        self,
        transcoder: Transcoder | None = None,
        mapper_class: type[Mapper[Any]] | None = None,
    ) -> Mapper[Any]:
        """The shredding mapper over this factory's key source."""
        del mapper_class
        return ShreddingMapper(transcoder or self.transcoder(), keys=self.host_keys)

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        """eventsourcing's aggregate recorder, reading keys with events."""
        recorder = super().aggregate_recorder(purpose)  # type: ignore[misc]
        return cast("AggregateRecorder", self._keyed(recorder, writes_keys=False))

    def application_recorder(self) -> ApplicationRecorder:
        """eventsourcing's application recorder, writing new keys with events."""
        recorder = super().application_recorder()  # type: ignore[misc]
        return cast("ApplicationRecorder", self._keyed(recorder, writes_keys=True))

    def process_recorder(self) -> ProcessRecorder:
        """eventsourcing's process recorder, writing new keys with events."""
        recorder = super().process_recorder()  # type: ignore[misc]
        return cast("ProcessRecorder", self._keyed(recorder, writes_keys=True))

    def _keyed(self, recorder: Any, *, writes_keys: bool) -> Any:
        if isinstance(recorder, KeyedAggregateRecorder):
            recorder.host_keys = self.host_keys
            recorder.keys_within = writes_keys and self.host_keys.keys_within
            self.join_keys(recorder)
        return recorder

    def join_keys(self, recorder: KeyedAggregateRecorder) -> None:
        """Let ``recorder`` read keys in the same query as events, where it can."""
        del recorder
