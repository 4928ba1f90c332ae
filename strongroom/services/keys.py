"""The reSolve-style key API (``sm.keys``): one secret per aggregate id, ids never reused.

Each id has a reservation stream in the event log (issued, imported, shredded) and
a row in the key index that gives it its ``idx``; the secret itself lives only in
the key table, wrapped under the master key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from strongroom._store_errors import translate_store_errors
from strongroom._transport import (
    export_sealer,
    field,
    ndjson,
    parse_line,
    seal,
    transport_sealer,
)
from strongroom.domain import validation as check
from strongroom.domain.errors import (
    KeyDeletedError,
    KeyReusedError,
    ValidationError,
)
from strongroom.domain.reservations import KeyReservation
from strongroom.domain.results import KeyImport, KeyPage, KeyRecord, KeyStats
from strongroom.infrastructure.crypto import Sealer
from strongroom.infrastructure.recorders import (
    KeyChange,
    KeyIndexChange,
    KeyStoreRecorder,
)
from strongroom.services.base import MAX_WRITE_RETRIES, now
from strongroom.services.field_encryption import FieldEncryption

if TYPE_CHECKING:
    from eventsourcing.persistence import StoredEvent

    from strongroom.infrastructure.keys import KeyRing
    from strongroom.infrastructure.store import StrongroomApplication

MAX_LOAD = 10_000
EXPORT_BATCH = 1000
IMPORT_BATCH = 500
_KEY_ID_AAD = b"strongroom/key-id/"
_EXPORT_AAD = b"strongroom/export/"

ImportProgress = Callable[[int], None]
"""Called with the number of ids imported so far."""


@translate_store_errors
class KeyAPI:
    """reSolve-style aggregate keys: one secret per id, ids never reused."""

    def __init__(self, app: StrongroomApplication, *, actor: str | None = None) -> None:
        self._app = app
        self._keys: KeyRing = app.keys
        self._recorder: KeyStoreRecorder = app.recorder  # type: ignore[assignment]
        self._actor = actor

    def __repr__(self) -> str:
        return "KeyAPI()"

    # ------------------------------------------------------------ get/set/delete

    def get_secret(self, key_id: str) -> str | None:
        """The secret set under ``key_id``, or None (never set, or deleted)."""
        reservation_id = self._keys.key_reservation_id(check.check_key_id(key_id))
        material = self._keys.fetch([reservation_id]).get(reservation_id)
        return None if material is None else material.decode()

    def set_secret(self, key_id: str, secret: str) -> None:
        """Set the secret of a never-used id; KeyReusedError for any id used before."""
        reservation, key_change, index_change = self._issue(key_id, secret)
        try:
            self._app.save(
                reservation, key_changes=[key_change], key_index=[index_change]
            )
        except IntegrityError:
            raise KeyReusedError(f"key id {key_id!r} was used before") from None

    def issue_within(
        self, secrets: Sequence[tuple[str, str]]
    ) -> tuple[list[StoredEvent], dict[str, list[Any]]]:
        """What ``set_secret`` writes for each ``(id, secret)``, left for a caller's
        transaction: the stored events and the recorder's keyword arguments.

        A host application's recorder writes them with its own events, so a new
        aggregate's key and its first events commit together (one transaction).
        """
        events: list[StoredEvent] = []
        written: dict[str, list[Any]] = {"key_changes": [], "key_index": []}
        for key_id, secret in secrets:
            reservation, key_change, index_change = self._issue(key_id, secret)
            events.extend(
                map(self._app.mapper.to_stored_event, reservation.collect_events())
            )
            written["key_changes"].append(key_change)
            written["key_index"].append(index_change)
        return events, written

    def _issue(
        self, key_id: str, secret: str
    ) -> tuple[KeyReservation, KeyChange, KeyIndexChange]:
        key_id = check.check_key_id(key_id)
        check.check_key_secret(secret)
        reservation_id = self._keys.key_reservation_id(key_id)
        reservation = KeyReservation.issue(
            reservation_id=reservation_id, key_id=key_id, at=now(), actor=self._actor
        )
        return (
            reservation,
            self._keys.wrap(reservation_id, secret.encode()),
            KeyIndexChange(reservation_id, self._seal_id(reservation_id, key_id)),
        )

    def get_or_create_secret(self, key_id: str, factory: Callable[[], str]) -> str:
        """The secret of ``key_id``, set from ``factory()`` if the id was never used.

        Concurrent callers all get the one secret that won. A deleted id raises
        KeyDeletedError: a forgotten aggregate is never silently re-keyed.
        """
        key_id = check.check_key_id(key_id)
        found = self.get_secret(key_id)
        if found is not None:
            return found
        try:
            secret = factory()
            self.set_secret(key_id, secret)
        except KeyReusedError:
            found = self.get_secret(key_id)
            if found is not None:
                return found
            msg = f"key id {key_id!r} was deleted; its key is shredded for good"
            raise KeyDeletedError(msg) from None
        return secret

    def delete_secret(self, key_id: str) -> bool:
        """Destroy the secret of ``key_id``: True once, then False."""
        return bool(self.delete_secrets([key_id]))

    def delete_secrets(self, key_ids: Iterable[str]) -> list[str]:
        """Destroy the secrets of several ids in one transaction.

        Returns the ids whose secrets this call destroyed, in the order given (ids
        never set, or deleted before, are left out).
        """
        if isinstance(key_ids, str):
            msg = "invalid ids: expected a list of key ids, not one str"
            raise ValidationError(msg)
        wanted = list(dict.fromkeys(check.check_key_id(i) for i in key_ids))
        for _ in range(MAX_WRITE_RETRIES):
            at = now()
            shredded: list[tuple[str, KeyReservation]] = []
            for key_id in wanted:
                reservation_id = self._keys.key_reservation_id(key_id)
                try:
                    reservation: KeyReservation = self._app.repository.get(
                        reservation_id
                    )
                except AggregateNotFoundError:
                    continue
                if reservation.shred(at=at, actor=self._actor):
                    shredded.append((key_id, reservation))
            if not shredded:
                return []
            try:
                self._app.save(
                    *(reservation for _, reservation in shredded),
                    key_changes=[KeyChange(r.id) for _, r in shredded],
                    key_index=[KeyIndexChange(r.id) for _, r in shredded],
                )
            except IntegrityError:
                continue  # another caller shredded one of them first: look again
            for _, reservation in shredded:
                self._keys.forget(reservation.id)
            return [key_id for key_id, _ in shredded]
        return []

    # ------------------------------------------------------------ load/describe

    def load_secrets(
        self,
        *,
        limit: int,
        idx: int | None = None,
        skip: int = 0,
        ids: Iterable[str] | None = None,
        include_deleted: bool = False,
    ) -> KeyPage:
        """Up to ``limit`` ids with ``idx >= idx`` in idx order, after skipping ``skip``.

        Deleted ids come back (with ``secret=None``) only with ``include_deleted``.
        """
        limit = check.check_count(limit, "limit", minimum=1, maximum=MAX_LOAD)
        skip = check.check_count(skip, "skip")
        start = 0 if idx is None else check.check_count(idx, "idx")
        wanted: list[UUID] | None = None
        if ids is not None:
            if isinstance(ids, str):
                msg = "invalid ids: expected a list of key ids, not one str"
                raise ValidationError(msg)
            wanted = [self._keys.key_reservation_id(check.check_key_id(i)) for i in ids]
            if not wanted:
                return KeyPage((), None)
        rows = self._recorder.select_key_index(
            start=start,
            limit=limit,
            skip=skip,
            ids=wanted,
            include_deleted=include_deleted,
        )
        records = tuple(
            KeyRecord(
                idx=row.idx,
                id=self._open_id(row.id, row.sealed_key_id),
                secret=None
                if row.key is None
                else self._keys.unwrap(row.id, row.key).decode(),
            )
            for row in rows
        )
        return KeyPage(records, records[-1].idx + 1 if records else None)

    def describe(self) -> KeyStats:
        """How many ids were ever issued (tombstones included), live and deleted."""
        total, deleted = self._recorder.count_key_index()
        return KeyStats(
            secret_count=total,
            set_secret_count=total - deleted,
            deleted_secret_count=deleted,
        )

    # ------------------------------------------------------------ export/import

    def export_secrets(
        self,
        *,
        plaintext: bool = False,
        transport_key: bytes | str | None = None,
    ) -> Iterator[str]:
        """NDJSON lines ``{"id", "idx", "secret"}`` in idx order, tombstones included.

        Key material leaves the store in the clear only with ``plaintext=True``;
        with ``transport_key`` (32 bytes) each secret is sealed to that key instead
        (``"sealed"`` replaces ``"secret"``), and only ``import_secrets`` with the
        same key can read it.
        """
        return self._export(
            export_sealer("keys", plaintext=plaintext, transport_key=transport_key)
        )

    def _export(self, sealer: Sealer | None) -> Iterator[str]:
        idx: int | None = 0
        while idx is not None:
            page = self.load_secrets(idx=idx, limit=EXPORT_BATCH, include_deleted=True)
            for record in page:
                line: dict[str, Any] = {"id": record.id, "idx": record.idx}
                if sealer is None:
                    line["secret"] = record.secret
                else:
                    line["sealed"] = (
                        None
                        if record.secret is None
                        else seal(
                            sealer, record.secret, _EXPORT_AAD + record.id.encode()
                        )
                    )
                yield ndjson(line)
            idx = page.next_idx

    def import_secrets(
        self,
        lines: Iterable[str | bytes],
        *,
        transport_key: bytes | str | None = None,
        progress: ImportProgress | None = None,
    ) -> KeyImport:
        """Restore exported ids into this store, tombstones as tombstones.

        Ids already used here raise KeyReusedError. Lines are imported in batches,
        each in one transaction: a failing batch writes nothing, and the error says
        how many ids the earlier batches imported.
        """
        sealer = None if transport_key is None else transport_sealer(transport_key)
        imported = tombstones = 0
        numbered = enumerate(lines, start=1)
        while batch := list(islice(numbered, IMPORT_BATCH)):
            items = [
                item
                for number, line in batch
                if (item := _parse_line(number, line, sealer)) is not None
            ]
            try:
                self._import_batch(items)
            except KeyReusedError as exc:
                msg = f"{exc} (ids imported before this batch: {imported + tombstones})"
                raise KeyReusedError(msg) from None
            tombstones += sum(1 for _, _, secret in items if secret is None)
            imported += sum(1 for _, _, secret in items if secret is not None)
            if progress is not None:
                progress(imported + tombstones)
        return KeyImport(imported=imported, tombstones=tombstones)

    def _import_batch(self, items: Sequence[tuple[str, int, str | None]]) -> None:
        if not items:
            return
        keys = self._keys
        at = now()
        seen: set[str] = set()
        reservations: list[KeyReservation] = []
        key_changes: list[KeyChange] = []
        index: list[KeyIndexChange] = []
        for key_id, idx, secret in items:
            if key_id in seen:
                raise KeyReusedError(f"key id {key_id!r} appears twice in the import")
            seen.add(key_id)
            reservation_id = keys.key_reservation_id(key_id)
            reservations.append(
                KeyReservation.restore(
                    reservation_id=reservation_id,
                    key_id=key_id,
                    shredded=secret is None,
                    at=at,
                    actor=self._actor,
                )
            )
            if secret is not None:
                key_changes.append(keys.wrap(reservation_id, secret.encode()))
            index.append(
                KeyIndexChange(
                    reservation_id,
                    self._seal_id(reservation_id, key_id),
                    idx=idx,
                    deleted=secret is None,
                )
            )
        used = self._recorder.select_key_index(
            start=0,
            limit=1,
            ids=[change.id for change in index],
            include_deleted=True,
        )
        if used:
            key_id = self._open_id(used[0].id, used[0].sealed_key_id)
            raise KeyReusedError(f"key id {key_id!r} was used before in this store")
        try:
            self._app.save(*reservations, key_changes=key_changes, key_index=index)
        except IntegrityError:
            msg = "a key id of this batch was used before in this store"
            raise KeyReusedError(msg) from None

    # ------------------------------------------------------------ field encryption

    def encryption_for(self, aggregate_id: str | UUID) -> FieldEncryption:
        """Field-level encryption under the key of ``aggregate_id`` (reSolve style)."""
        return FieldEncryption(self, check.check_key_id(str(aggregate_id)))

    # ------------------------------------------------------------ helpers

    def _seal_id(self, reservation_id: UUID, key_id: str) -> bytes:
        return self._keys.store.seal(
            key_id.encode(), _KEY_ID_AAD + reservation_id.bytes
        )

    def _open_id(self, reservation_id: UUID, sealed: bytes) -> str:
        return self._keys.store.open(
            sealed, _KEY_ID_AAD + reservation_id.bytes
        ).decode()


def _parse_line(
    number: int, line: str | bytes, sealer: Sealer | None
) -> tuple[str, int, str | None] | None:
    """``(id, idx, secret)`` of one export line, or None for a blank line."""
    try:
        item = parse_line(line)
        if item is None:
            return None
        key_id = check.check_key_id(item.get("id"))
        idx = check.check_count(item.get("idx"), "idx")
        secret = field(item, sealer, "secret", _EXPORT_AAD + key_id.encode())
        if secret is not None:
            check.check_key_secret(secret)
    except ValidationError as exc:
        raise ValidationError(f"invalid import line {number}: {exc}") from None
    return key_id, idx, secret
