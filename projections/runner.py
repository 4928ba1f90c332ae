"""Pull-based catch-up of the secrets projection from the application's log.

Every read of a projection first catches up, so a process always reads its own
writes, and other processes' writes as soon as they commit. Several processes may
catch up at once: each batch claims its tracking range first, so a batch is
applied exactly once and the losers simply read on from the new position.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from strongroom.infrastructure.keys import KeyRing
from strongroom.projections.secrets import SecretsProjection, SecretsView

BATCH_SIZE = 500
MAX_CLAIM_RETRIES = 100


class CatchUp:
    """Brings one projection up to date with one application's notification log."""

    def __init__(
        self,
        app: Application[Any],
        projection: SecretsProjection,
        keys: KeyRing,
        *,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._app = app
        self._projection = projection
        self._keys = keys
        self._batch_size = batch_size
        self._lock = threading.Lock()
        # (tracked position p, log position q): nothing in (p, q] is projected here.
        # The log never changes, so while the tracked position is still p, reads
        # start after q instead of scanning the same unprojected events (aggregate
        # keys, tokens) on every catch-up.
        self._quiet: tuple[int | None, int] = (None, 0)
        self._reached = 0

    @property
    def reached(self) -> int:
        """A log position every event up to which is projected (0 before a run)."""
        return self._reached

    @property
    def view(self) -> SecretsView:
        """The projection's materialised view."""
        return self._projection.view

    def run(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Process every event recorded so far; the number processed here.

        ``progress`` gets (log position reached, last log position) after each batch.
        """
        processed = 0
        conflicts = 0
        stuck_at: int | None = -1
        with self._lock:
            while True:
                position = self.view.max_tracking_id(self._app.name)
                start = position
                if position is not None and position == self._quiet[0]:
                    start = self._quiet[1]
                # Log positions are commit order (the recorder locks the table), so
                # everything up to the last position is already visible.
                last = self._app.recorder.max_notification_id()
                notifications = self._app.recorder.select_notifications(
                    start=start,
                    stop=last,
                    limit=self._batch_size,
                    topics=self._projection.topics,
                    inclusive_of_start=False,
                )
                if not notifications:
                    if position is not None and last is not None:
                        self._quiet = (position, last)
                    self._reached = max(self._reached, last or 0)
                    return processed
                with self._keys.operation():
                    self._keys.prefetch(
                        cast("UUID", n.originator_id) for n in notifications
                    )
                    events = [
                        (self._app.mapper.to_domain_event(n), n.id)
                        for n in notifications
                    ]
                try:
                    self._projection.process_batch(self._app.name, events)
                except IntegrityError:
                    # Another process projected this batch. Only losing races while
                    # nobody moves on is a fault: two processes catching up on a
                    # long log each lose hundreds of races as they go.
                    conflicts = 1 if position != stuck_at else conflicts + 1
                    stuck_at = position
                    if conflicts > MAX_CLAIM_RETRIES:
                        raise
                    continue
                processed += len(events)
                if progress is not None:
                    last = self._app.recorder.max_notification_id() or 0
                    progress(notifications[-1].id, last)

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Empty the read models, then replay the whole log into them."""
        with self._lock:
            self.view.reset(self._app.name)
        return self.run(progress)
