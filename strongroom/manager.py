"""SecretsManager: the library's face over the event store, key ring and projections."""

from __future__ import annotations

import builtins
import copy
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

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
from strongroom.domain.access import Caller, check_reveal
from strongroom.domain.errors import (
    ConflictError,
    NameReservedError,
    SecretDeletedError,
    SecretExistsError,
    SecretNotFoundError,
    StrongroomError,
    ValidationError,
    VersionConflictError,
    describe,
)
from strongroom.domain.reads import Reveal
from strongroom.domain.reservations import NameReservation, RequestReceipt
from strongroom.domain.results import (
    Action,
    AuditEntry,
    Cause,
    Page,
    Rotation,
    SecretStats,
    SecretVersion,
    Status,
)
from strongroom.domain.results import Secret as SecretInfo
from strongroom.domain.secret import (
    TOPIC_CLASSES,
    IncompleteStreamError,
    Secret,
    Shredded,
    Tombstone,
    action_of,
    replay,
    value_version_of,
)
from strongroom.domain.validation import Value
from strongroom.infrastructure.crypto import Sealer, new_id, new_key
from strongroom.infrastructure.master_key import MasterKeyProvider, as_provider
from strongroom.infrastructure.recorders import HeadRow, KeyChange
from strongroom.infrastructure.store import StrongroomApplication, parse_url
from strongroom.keys import KeyAPI
from strongroom.projections.postgres import PostgresSecretsView
from strongroom.projections.runner import CatchUp
from strongroom.projections.secrets import (
    ACTIONS,
    STATUSES,
    AuditFilter,
    ListFilter,
    Row,
    SecretsProjection,
    SecretsView,
    decode_cursor,
    encode_cursor,
    iter_audit,
)
from strongroom.projections.sqlite import SQLiteSecretsView
from strongroom.settings import Settings
from strongroom.tokens import TokenAPI

T = TypeVar("T")


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()
"""Marks an optional argument that was not given (None means 'clear it')."""

MAX_WRITE_RETRIES = 50
MAX_PAGE = 1000
_NAME_CACHE_LIMIT = 100_000


def _now() -> datetime:
    return datetime.now(UTC)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


@translate_store_errors
class SecretsManager:
    """Event-sourced secrets with per-secret crypto-shredding.

    Open with ``SecretsManager.open(...)`` and use as a context manager.
    """

    def __init__(
        self,
        app: StrongroomApplication,
        view: SecretsView,
        *,
        backend: str,
        location: str,
        actor: str | None = None,
        audit_reads: bool = False,
        strict_access: bool = False,
    ) -> None:
        self._app = app
        self._strict_access = bool(strict_access)
        self._keys = app.keys
        self._view = view
        self._catch_up = CatchUp(app, SecretsProjection(view), app.keys)
        self._backend = backend
        self._location = location
        self._actor = check.check_actor(actor)
        self._addresses: dict[tuple[str | None, str], UUID] = {}
        self._addresses_lock = threading.Lock()
        self._closed = False
        self._audit_reads = bool(audit_reads)
        self.keys = KeyAPI(app, actor=self._actor)
        self.tokens = TokenAPI(app, actor=self._actor)

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        master_key: MasterKeyProvider | bytes | str | None = None,
        previous_master_keys: Iterable[MasterKeyProvider | bytes | str] | None = None,
        actor: str | None = None,
        audit_reads: bool = False,
        strict_access: bool = False,
    ) -> SecretsManager:
        """Open (creating if needed) the store at ``url``.

        ``url``: ``sqlite:///PATH`` or ``postgresql://user@host:port/db``; None
        means ``STRONGROOM_DATABASE_URL``, else the embedded SQLite store in the
        data dir. ``master_key``: 32 bytes, their base64, or a provider (default:
        the ``STRONGROOM_MASTER_KEY*`` settings). ``actor`` is recorded for every
        write that names none.

        ``previous_master_keys`` (default: ``STRONGROOM_MASTER_KEY_PREVIOUS``) are
        needed only while a master-key rotation is unfinished. With
        ``audit_reads`` every reveal is recorded in the log. With
        ``strict_access`` a secret restricted to apps or envs is revealed only
        when ``reveal`` names an allowed app and env (the HTTP API always asks).
        """
        settings = Settings()
        embedded = url is None and settings.database_url is None
        url = url or settings.database_url or settings.embedded_url()
        backend, env = parse_url(url)
        kek = (
            settings.master_key_provider(embedded=embedded)
            if master_key is None
            else as_provider(master_key)
        )
        previous = (
            settings.previous_key_providers()
            if previous_master_keys is None
            else [as_provider(key) for key in previous_master_keys]
        )
        view_class: type[SecretsView]
        view_class = PostgresSecretsView if backend == "postgres" else SQLiteSecretsView
        app = StrongroomApplication(
            env, master_key=kek, previous_master_keys=previous, views=[view_class]
        )
        (view,) = app.views
        return cls(
            app,
            view,
            backend=backend,
            location=_redact(url),
            actor=actor,
            audit_reads=audit_reads,
            strict_access=strict_access,
        )

    def close(self) -> None:
        """Release the database connections (idempotent)."""
        if not self._closed:
            self._closed = True
            self._app.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SecretsManager(backend={self._backend!r}, url={self._location!r})"

    # ------------------------------------------------------------- writing

    def create(
        self,
        name: str,
        value: Value,
        *,
        namespace: str | None = None,
        description: str | None = None,
        token_type: str | None = None,
        allowed_apps: Iterable[str] = (),
        envs: Iterable[str] = (),
        expires_at: datetime | None = None,
        tags: Mapping[str, str] | None = None,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> SecretInfo:
        """Create a secret; SecretExistsError if live, NameReservedError if deleted.

        With ``request_id``, a retry with the same arguments answers the first
        call's secret instead of failing; other arguments raise ConflictError.
        """
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        fields = _create_fields(
            value,
            description=description,
            token_type=token_type,
            allowed_apps=allowed_apps,
            envs=envs,
            expires_at=expires_at,
            tags=tags,
        )
        request = self._request(request_id, "create", namespace, name, fields)
        return self._create_answering(
            name, namespace, fields, self._who(actor), request
        )

    def _create_answering(
        self,
        name: str,
        namespace: str | None,
        fields: dict[str, Any],
        actor: str | None,
        request: _Request | None,
    ) -> SecretInfo:
        answered = self._answered(request)
        if answered is not None:
            return self._answer_info(answered)
        try:
            return self._create(name, namespace, fields, actor, request).info(_now())
        except ConflictError:
            # A concurrent retry of the same request may have won.
            answered = self._answered(request)
            if answered is None:
                raise
            return self._answer_info(answered)

    def _create(
        self,
        name: str,
        namespace: str | None,
        fields: dict[str, Any],
        actor: str | None,
        request: _Request | None = None,
        *,
        revoked: bool = False,
    ) -> Secret:
        at = _now()
        secret, reservation = self._new_secret(name, namespace, fields, actor, at)
        if revoked:
            secret.revoke(at=at, actor=actor)
        data_key = new_key()
        receipts = self._receipts(request, secret, at)
        with self._keys.operation(), self._keys.staged(secret.id, data_key):
            try:
                # The reservation's first event is what makes the name unique.
                self._app.save(
                    reservation,
                    secret,
                    *receipts,
                    key_changes=[self._keys.wrap(secret.id, data_key)],
                )
            except IntegrityError:
                existing = self._lookup(name, namespace)
                if isinstance(existing, Tombstone):
                    msg = (
                        f"the name {describe(name, namespace)} belonged to a deleted "
                        "secret and stays reserved"
                    )
                    raise NameReservedError(msg) from None
                msg = f"secret {describe(name, namespace)} already exists"
                raise SecretExistsError(msg) from None
        return secret

    def export_secrets(
        self,
        *,
        plaintext: bool = False,
        transport_key: bytes | str | None = None,
    ) -> Iterator[str]:
        """NDJSON lines, one per live secret: its current value and metadata.

        In listing order, read page by page, so memory stays flat at any size.
        Values leave the store in the clear only with ``plaintext=True``; with a
        ``transport_key`` (32 bytes) each value is sealed to it (``"sealed"``
        replaces ``"value"``), and only ``import_secrets`` with that key reads it.
        Deleted secrets are not exported: their values are shredded.
        """
        sealer = export_sealer(
            "values", plaintext=plaintext, transport_key=transport_key
        )
        return self._export(sealer)

    def _export(self, sealer: Sealer | None) -> Iterator[str]:
        cursor: str | None = None
        while True:
            page = self.list(limit=MAX_PAGE, cursor=cursor)
            ids = [info.id for info in page.items]
            with self._keys.operation():
                # One query per page; a secret without a usable head is replayed.
                heads = self._app.recorder.select_heads(ids)  # type: ignore[attr-defined]
                found = [
                    self._from_head(secret_id, heads.get(secret_id))
                    or self._load(secret_id)
                    for secret_id in ids
                ]
            for secret in found:
                if isinstance(secret, Secret):
                    yield ndjson(_export_line(secret, sealer))
            cursor = page.next_cursor
            if cursor is None:
                return

    def import_secrets(
        self,
        lines: Iterable[str | bytes],
        *,
        transport_key: bytes | str | None = None,
        actor: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Create the secrets of an ``export_secrets`` stream; the number created.

        Each secret is created in one transaction, revoked ones already revoked.
        A line that is invalid or names a taken address stops the import with its
        error, which says the line and how many secrets were created before it.
        """
        sealer = None if transport_key is None else transport_sealer(transport_key)
        who = self._who(actor)
        created = 0
        for number, line in enumerate(lines, start=1):
            try:
                item = parse_line(line)
                if item is None:
                    continue
                name, namespace, fields, revoked = _import_line(item, sealer)
                self._create(name, namespace, fields, who, revoked=revoked)
            except StrongroomError as exc:
                msg = f"import line {number}: {exc} (secrets created before it: {created})"
                raise type(exc)(msg) from None
            created += 1
            if progress is not None:
                progress(created)
        return created

    def create_many(
        self,
        items: Iterable[tuple[str, Value]],
        *,
        namespace: str | None = None,
        actor: str | None = None,
        batch_size: int = 500,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Create many secrets from ``(name, value)`` pairs; the number created.

        Each batch is one transaction: a batch holding an invalid item or a taken
        name writes nothing, and the error says how many earlier batches created.
        """
        batch_size = check.check_count(
            batch_size, "batch size", minimum=1, maximum=10_000
        )
        namespace = check.check_namespace(namespace)
        who = self._who(actor)
        created = 0
        pairs = iter(check.check_pairs(items))
        while batch := list(islice(pairs, batch_size)):
            try:
                self._create_batch(batch, namespace, who)
            except StrongroomError as exc:
                msg = f"{exc} (secrets created before this batch: {created})"
                raise type(exc)(msg) from None
            created += len(batch)
            if progress is not None:
                progress(created)
        return created

    def _create_batch(
        self, batch: list[tuple[str, Value]], namespace: str | None, actor: str | None
    ) -> None:
        at = _now()
        saved: list[Any] = []
        key_changes: list[KeyChange] = []
        names: set[str] = set()
        with self._keys.operation(), ExitStack() as staged:
            for name, value in batch:
                if name in names:
                    msg = f"secret {describe(name, namespace)} is given twice"
                    raise SecretExistsError(msg)
                names.add(name)
                secret, reservation = self._new_secret(
                    name, namespace, _fields_for(value), actor, at
                )
                data_key = new_key()
                staged.enter_context(self._keys.staged(secret.id, data_key))
                key_changes.append(self._keys.wrap(secret.id, data_key))
                saved += [reservation, secret]
            try:
                self._app.save(*saved, key_changes=key_changes)
            except IntegrityError:
                taken = [n for n in names if self._secret_id(n, namespace) is not None]
                where = describe(taken[0], namespace) if taken else "in this batch"
                msg = f"secret {where} already exists or stays reserved"
                raise SecretExistsError(msg) from None

    def _new_secret(
        self,
        name: str,
        namespace: str | None,
        fields: dict[str, Any],
        actor: str | None,
        at: datetime,
    ) -> tuple[Secret, NameReservation]:
        """A new secret and the first event of its name's reservation stream."""
        secret = Secret.create(
            secret_id=new_id(),
            at=at,
            name=name,
            namespace=namespace,
            actor=actor,
            **fields,
        )
        reservation = NameReservation.reserve(
            reservation_id=self._keys.name_reservation_id(namespace, name),
            secret_id=secret.id,
            name=name,
            namespace=namespace,
            at=at,
        )
        return secret, reservation

    def put(
        self,
        name: str,
        value: Value,
        *,
        namespace: str | None = None,
        description: str | None = UNSET,
        token_type: str | None = UNSET,
        allowed_apps: Iterable[str] = UNSET,
        envs: Iterable[str] = UNSET,
        expires_at: datetime | None = UNSET,
        tags: Mapping[str, str] | None = UNSET,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> SecretInfo:
        """Create the secret, or add a new value version (and given metadata) to it.

        With ``request_id``, a retry with the same arguments adds no version.
        """
        given = _given(
            description=description,
            token_type=token_type,
            allowed_apps=allowed_apps,
            envs=envs,
            expires_at=expires_at,
            tags=tags,
        )
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        fields = _create_fields(value, **given)
        changes = _metadata_changes(given)
        who = self._who(actor)
        request = self._request(request_id, "put", namespace, name, fields, changes)
        for _ in range(MAX_WRITE_RETRIES):
            try:
                return self._create_answering(name, namespace, fields, who, request)
            except SecretExistsError:
                pass
            try:
                return self._update(
                    name, namespace, fields["value"], changes, None, who, request
                )
            except SecretNotFoundError:
                continue
        msg = f"secret {describe(name, namespace)} kept changing; put gave up"
        raise VersionConflictError(msg)

    def update(
        self,
        name: str,
        *,
        namespace: str | None = None,
        value: Value = UNSET,
        description: str | None = UNSET,
        token_type: str | None = UNSET,
        allowed_apps: Iterable[str] = UNSET,
        envs: Iterable[str] = UNSET,
        expires_at: datetime | None = UNSET,
        tags: Mapping[str, str] | None = UNSET,
        expected_version: int | None = None,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> SecretInfo:
        """Change only the given fields; None clears an optional field.

        With ``request_id``, a retry with the same arguments changes nothing again.
        """
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        new_value = None if value is UNSET else check.check_value(value)
        changes = _metadata_changes(
            _given(
                description=description,
                token_type=token_type,
                allowed_apps=allowed_apps,
                envs=envs,
                expires_at=expires_at,
                tags=tags,
            )
        )
        if expected_version is not None:
            check.check_version(expected_version)
        who = self._who(actor)
        request = self._request(
            request_id, "update", namespace, name, new_value, changes, expected_version
        )
        return self._update(
            name, namespace, new_value, changes, expected_version, who, request
        )

    def _update(
        self,
        name: str,
        namespace: str | None,
        new_value: Value | None,
        changes: dict[str, Any],
        expected_version: int | None,
        who: str | None,
        request: _Request | None,
    ) -> SecretInfo:
        def change(secret: Secret) -> None:
            if (
                expected_version is not None
                and secret.value_version != expected_version
            ):
                msg = (
                    f"secret {describe(name, namespace)} is at version "
                    f"{secret.value_version}, not {expected_version}"
                )
                raise VersionConflictError(msg)
            at = _now()
            if new_value is not None:
                secret.change_value(new_value, at=at, actor=who)
            if changes:
                secret.change_metadata(changes, at=at, actor=who)

        answered = self._answered(request)
        if answered is not None:
            return self._answer_info(answered)
        secret, _ = self._mutate(
            name, namespace, change, retry=expected_version is None, request=request
        )
        if isinstance(secret, RequestReceipt.Created):
            return self._answer_info(secret)
        info: SecretInfo = secret.info(_now())
        return info

    def patch(
        self,
        name: str,
        changes: Mapping[str, Any] | Callable[[dict[str, Any]], dict[str, Any]],
        *,
        namespace: str | None = None,
        retries: int = 5,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Atomic read-modify-write of a JSON-object value; returns the previous value.

        With ``request_id`` (dict changes only), a retry with the same changes
        applies nothing again and returns what the first call returned.
        """
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        if callable(changes):
            if request_id is not None:
                msg = "a request id needs a dict of changes, not a function"
                raise ValidationError(msg)
            compute = changes
        elif isinstance(changes, Mapping):
            merge = dict(changes)
            # A None removes its key: check it as a placeholder, keys included.
            check.check_value({k: True if v is None else v for k, v in merge.items()})

            def compute(old: dict[str, Any]) -> dict[str, Any]:
                merged = {**old, **merge}
                return {k: v for k, v in merged.items() if merge.get(k, 0) is not None}

        else:
            msg = "patch changes must be a dict or a function of the old value"
            raise ValidationError(msg)
        who = self._who(actor)
        request = self._request(
            request_id, "patch", namespace, name, None if callable(changes) else merge
        )
        for _ in range(max(retries, 0) + 1):
            answered = self._answered(request)
            if answered is not None:
                return self._answer_patch(answered)
            with self._keys.operation():
                found = self._lookup(name, namespace)
                if found is None:
                    new = self._patched(compute, {})
                    try:
                        self._create(name, namespace, _fields_for(new), who, request)
                    except SecretExistsError:
                        continue
                    return {}
                secret = self._require_live(found, name, namespace)
                if not isinstance(secret.value, dict):
                    msg = f"secret {describe(name, namespace)} does not hold a JSON object"
                    raise ValidationError(msg)
                old = copy.deepcopy(secret.value)
                new = self._patched(compute, copy.deepcopy(old))
                at = _now()
                secret.change_value(new, at=at, actor=who, cause=Cause.PATCHED)
                try:
                    self._app.save(secret, *self._receipts(request, secret, at))
                except IntegrityError:
                    continue
                return old
        msg = f"secret {describe(name, namespace)} kept changing; patch ran out of retries"
        raise VersionConflictError(msg)

    @staticmethod
    def _patched(
        compute: Callable[[dict[str, Any]], dict[str, Any]], old: dict[str, Any]
    ) -> dict[str, Any]:
        new = compute(old)
        if not isinstance(new, dict):
            msg = "a patch must produce a JSON object"
            raise ValidationError(msg)
        check.check_value(new)
        return new

    def delete(
        self, name: str, *, namespace: str | None = None, actor: str | None = None
    ) -> bool:
        """Crypto-shred the secret; False if it is missing or already deleted."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        who = self._who(actor)
        for _ in range(MAX_WRITE_RETRIES):
            with self._keys.operation():
                found = self._lookup(name, namespace)
                if not isinstance(found, Secret):
                    return False
                found.delete(at=_now(), actor=who)
                try:
                    # The data key row goes in the same transaction as the tombstone.
                    self._app.save(found, key_changes=[KeyChange(found.id)])
                except IntegrityError:
                    continue
                finally:
                    self._keys.forget(found.id)
                return True
        return False

    def revoke(
        self, name: str, *, namespace: str | None = None, actor: str | None = None
    ) -> bool:
        """Stop reveals of the secret; False if it is already revoked."""
        who = self._who(actor)
        _, changed = self._mutate(
            name, namespace, lambda s: s.revoke(at=_now(), actor=who), retry=True
        )
        return bool(changed)

    def reinstate(
        self, name: str, *, namespace: str | None = None, actor: str | None = None
    ) -> bool:
        """Allow reveals of a revoked secret again; False if it is not revoked."""
        who = self._who(actor)
        _, changed = self._mutate(
            name, namespace, lambda s: s.reinstate(at=_now(), actor=who), retry=True
        )
        return bool(changed)

    def rollback(
        self,
        name: str,
        version: int,
        *,
        namespace: str | None = None,
        actor: str | None = None,
    ) -> SecretInfo:
        """Add a new value version carrying the value of ``version``."""
        version = check.check_version(version)
        who = self._who(actor)

        def roll(secret: Secret) -> None:
            old = self._value_at(secret, version)
            secret.roll_back(version, old, at=_now(), actor=who)

        secret, _ = self._mutate(name, namespace, roll, retry=True, full=True)
        info: SecretInfo = secret.info(_now())
        return info

    def _mutate(
        self,
        name: str,
        namespace: str | None,
        change: Callable[[Secret], T],
        *,
        retry: bool,
        full: bool = False,
        request: _Request | None = None,
    ) -> tuple[Any, T | None]:
        """Apply ``change`` and save; with ``request``, a receipt answered meanwhile."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        for attempt in range(MAX_WRITE_RETRIES if retry else 1):
            if attempt and (answered := self._answered(request)) is not None:
                return answered, None
            with self._keys.operation():
                secret = self._require_live(
                    self._lookup(name, namespace, full=full), name, namespace
                )
                result = change(secret)
                if not secret.pending_events and request is None:
                    return secret, result
                try:
                    self._app.save(secret, *self._receipts(request, secret, _now()))
                except IntegrityError:
                    continue
                return secret, result
        if (answered := self._answered(request)) is not None:
            return answered, None
        msg = f"secret {describe(name, namespace)} changed while it was being written"
        raise VersionConflictError(msg)

    # ------------------------------------------------------ request ids

    def _request(
        self, request_id: str | None, operation: str, *arguments: object
    ) -> _Request | None:
        if request_id is None:
            return None
        request_id = check.check_request_id(request_id)
        return _Request(
            self._keys.request_receipt_id(request_id),
            operation,
            self._keys.fingerprint(operation, *arguments),
        )

    def _answered(self, request: _Request | None) -> RequestReceipt.Created | None:
        """The receipt of an earlier call with this request id, if any."""
        if request is None:
            return None
        events = list(self._app.events.get(request.receipt_id, limit=1))
        if not events:
            return None
        first = events[0]
        assert isinstance(first, RequestReceipt.Created)
        if (first.operation, first.fingerprint) != (
            request.operation,
            request.fingerprint,
        ):
            msg = "the request id was already used with other arguments"
            raise ConflictError(msg)
        return first

    @staticmethod
    def _receipts(
        request: _Request | None, secret: Secret, at: datetime
    ) -> list[RequestReceipt]:
        if request is None:
            return []
        return [
            RequestReceipt.record(
                receipt_id=request.receipt_id,
                operation=request.operation,
                fingerprint=request.fingerprint,
                secret_id=secret.id,
                value_version=secret.value_version,
                at=at,
            )
        ]

    def _answer_info(self, receipt: RequestReceipt.Created) -> SecretInfo:
        with self._keys.operation():
            found = self._load(receipt.secret_id)
        if not isinstance(found, Secret):
            msg = (
                f"the secret this request wrote ({receipt.secret_id}) was deleted since"
            )
            raise SecretDeletedError(msg)
        return found.info(_now())

    def _answer_patch(self, receipt: RequestReceipt.Created) -> dict[str, Any]:
        if receipt.value_version == 1:
            return {}
        with self._keys.operation():
            found = self._load(receipt.secret_id, full=True)
            if not isinstance(found, Secret):
                msg = f"the secret this request wrote ({receipt.secret_id}) was deleted since"
                raise SecretDeletedError(msg)
            before = self._value_at(found, receipt.value_version - 1)
        return copy.deepcopy(before) if isinstance(before, dict) else {}

    # ------------------------------------------------------------- reading

    def get(
        self, name: str, *, namespace: str | None = None, include_deleted: bool = False
    ) -> SecretInfo:
        """The secret's metadata (the tombstone too, with ``include_deleted``)."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        with self._keys.operation():
            found = self._lookup(name, namespace)
        if isinstance(found, Tombstone) and include_deleted:
            return found.info()
        if not isinstance(found, Secret):
            raise SecretNotFoundError(f"secret {describe(name, namespace)} not found")
        return found.info(_now())

    def get_by_id(self, secret_id: UUID | str) -> SecretInfo:
        """The metadata of a live secret by its id."""
        try:
            key = secret_id if isinstance(secret_id, UUID) else UUID(str(secret_id))
        except ValueError:
            raise SecretNotFoundError(f"secret {secret_id!s} not found") from None
        with self._keys.operation():
            found = self._load(key)
        if not isinstance(found, Secret):
            raise SecretNotFoundError(f"secret {key} not found")
        return found.info(_now())

    def exists(self, name: str, *, namespace: str | None = None) -> bool:
        """True for a live secret (active, revoked or expired) at that address."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        with self._keys.operation():
            return isinstance(self._lookup(name, namespace), Secret)

    def reveal(
        self,
        name: str,
        *,
        namespace: str | None = None,
        version: int | None = None,
        app: str | None = None,
        env: str | None = None,
        actor: str | None = None,
        audit: bool | None = None,
    ) -> Value:
        """The secret's current value, or that of an older ``version``.

        With ``audit`` (default: the manager's ``audit_reads``) the reveal is
        recorded in the event log - who, which version, when; never the value.
        """
        value, _ = self.reveal_with_version(
            name,
            namespace=namespace,
            version=version,
            app=app,
            env=env,
            actor=actor,
            audit=audit,
        )
        return value

    def reveal_with_version(
        self,
        name: str,
        *,
        namespace: str | None = None,
        version: int | None = None,
        app: str | None = None,
        env: str | None = None,
        actor: str | None = None,
        audit: bool | None = None,
        caller: Caller | None = None,
    ) -> tuple[Value, int]:
        """Like ``reveal``, with the value version that was revealed.

        ``caller`` replaces ``app`` and ``env`` for adapters that know who asks
        (a bound token): such a caller must name an allowed app and env.
        """
        if caller is None:
            caller = Caller(app=app, env=env, strict=self._strict_access)
        elif (app, env) != (None, None):
            msg = "give app and env, or a caller, not both"
            raise ValidationError(msg)
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        if version is not None:
            version = check.check_version(version)
        with self._keys.operation():
            found = self._lookup(name, namespace)
            if isinstance(found, Tombstone):
                msg = f"secret {describe(name, namespace)} was deleted"
                raise SecretDeletedError(msg)
            if found is None:
                raise SecretNotFoundError(
                    f"secret {describe(name, namespace)} not found"
                )
            where = describe(name, namespace)
            check_reveal(
                name=name,
                namespace=namespace,
                status=found.status,
                expired=found.is_expired(_now()),
                allowed_apps=found.allowed_apps,
                envs=found.envs,
                caller=caller,
            )
            if version is None or version == found.value_version:
                assert found.value is not None
                version = found.value_version
                value = copy.deepcopy(found.value)
            else:
                history = self._load(found.id, full=True)
                if not isinstance(history, Secret):
                    raise SecretDeletedError(f"secret {where} was deleted")
                value = self._value_at(history, version)
        if self._audit_reads if audit is None else audit:
            record = Reveal.record(
                record_id=new_id(),
                secret_id=found.id,
                version=version,
                actor=self._who(actor),
                at=_now(),
            )
            self._app.save(record)
        return value, version

    def reveal_many(
        self, names: Iterable[str], *, namespace: str | None = None
    ) -> dict[str, Value | StrongroomError]:
        """Reveal several secrets; each name maps to its value or to its error."""
        results: dict[str, Value | StrongroomError] = {}
        for name in check.check_names(names):
            try:
                results[name] = self.reveal(name, namespace=namespace)
            except StrongroomError as exc:
                results[name] = exc
        return results

    def versions(
        self, name: str, *, namespace: str | None = None
    ) -> list[SecretVersion]:
        """Every value version of the secret, newest first."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        with self._keys.operation():
            found = self._lookup(name, namespace, full=True)
        return self._require_live(found, name, namespace).versions()

    def list(
        self,
        *,
        namespace: str | None = None,
        scope: str | None = None,
        prefix: str | None = None,
        app: str | None = None,
        env: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """A page of secrets' metadata in ``(namespace NULLS FIRST, name)`` order."""
        filters = ListFilter(
            namespace=check.check_namespace(namespace),
            scope=check.check_one_of(scope, {"global", "namespace"}, "scope"),
            prefix=check.check_optional_label(prefix or None, "prefix"),
            app=check.check_optional_label(app, "app"),
            env=check.check_optional_label(env, "env"),
            status=check.check_one_of(status, STATUSES, "status"),
            tag=check.check_tag_filter(tag),
        )
        limit = check.check_count(limit, "limit", minimum=1, maximum=MAX_PAGE)
        after = None if cursor is None else decode_cursor(cursor)
        self._catch_up.run()
        rows = self._view.list_rows(filters, after, limit + 1)
        now = _now()
        items = [_info(row, now) for row in rows[:limit]]
        next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor)

    def stats(
        self, *, namespace: str | None = None, soon: timedelta = timedelta(days=7)
    ) -> SecretStats:
        """Counts of live, revoked, expired, expiring and deleted secrets."""
        namespace = check.check_namespace(namespace)
        soon = check.check_duration(soon, "soon")
        self._catch_up.run()
        now = _now()
        counts = self._view.counts(namespace, now, now + soon)
        active = counts.by_status.get("active", 0)
        revoked = counts.by_status.get("revoked", 0)
        return SecretStats(
            total=active + revoked,
            active=active,
            revoked=revoked,
            expired=counts.expired,
            expiring_soon=counts.expiring_soon,
            deleted=counts.by_status.get("deleted", 0),
            by_namespace=counts.by_namespace,
        )

    def history(
        self, name: str, *, namespace: str | None = None
    ) -> builtins.list[AuditEntry]:
        """Every recorded action on the secret, oldest first (deleted ones too)."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        with self._keys.operation():
            secret_id = self._secret_id(name, namespace)
            if secret_id is None:
                raise SecretNotFoundError(
                    f"secret {describe(name, namespace)} not found"
                )
            return [
                _entry(item, name, namespace)
                for item in list(self._app.events.get(secret_id))
            ]

    def audit(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        namespace: str | None = None,
        action: str | None = None,
    ) -> Iterator[AuditEntry]:
        """Stream recorded actions across the store, in log order."""
        filters = AuditFilter(
            since=check.check_moment(since, "since"),
            until=check.check_moment(until, "until"),
            actor=check.check_actor(actor),
            namespace=check.check_namespace(namespace),
            action=check.check_one_of(action, ACTIONS, "action"),
        )
        self._catch_up.run()
        return (
            AuditEntry(
                at=row.at,
                actor=row.actor,
                action=Action(row.action),
                secret_id=row.secret_id,
                name=name,
                namespace=ns,
                version=row.version,
            )
            for row, name, ns in iter_audit(self._view, filters)
        )

    def as_of(
        self, name: str, at: datetime, *, namespace: str | None = None
    ) -> SecretInfo:
        """The secret's metadata as it was at instant ``at``."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        moment = check.check_moment(at, "at")
        assert moment is not None
        with self._keys.operation():
            secret_id = self._secret_id(name, namespace)
            events = [] if secret_id is None else list(self._app.events.get(secret_id))
            prefix = []
            for item in events:
                # Shredded placeholders have no timestamp.
                stamp = getattr(item, "timestamp", None)
                if stamp is None or stamp > moment:
                    break
                prefix.append(item)
        if not prefix:
            msg = f"secret {describe(name, namespace)} did not exist at {moment.isoformat()}"
            raise SecretNotFoundError(msg)
        try:
            found = replay(prefix)
        except IncompleteStreamError:
            msg = (
                f"secret {describe(name, namespace)} was deleted: its past is shredded"
            )
            raise SecretDeletedError(msg) from None
        if isinstance(found, Tombstone):
            return found.info()
        assert isinstance(found, Secret)
        return found.info(moment)

    def rebuild_projections(
        self, *, progress: Callable[[int, int], None] | None = None
    ) -> None:
        """Rebuild listing, stats and audit from the event log.

        ``progress`` gets (log position reached, last log position) per batch.
        """
        self._catch_up.rebuild(progress)

    def rotate_master_key(
        self,
        new_key: MasterKeyProvider | bytes | str | None = None,
        *,
        batch_size: int = 1000,
        progress: Callable[[int, int], None] | None = None,
    ) -> Rotation:
        """Re-wrap every key of the store under ``new_key`` (default: the current key).

        Runs in batches and never decrypts an event. Until it has finished, open the
        store with the new key as master key and the old one as previous key; run
        it again after a crash to finish. When it returns, the old master key wraps
        nothing any more and can be destroyed, and with it every backup's copy of
        shredded keys.
        """
        batch_size = check.check_count(batch_size, "batch size", minimum=1)
        provider = None if new_key is None else as_provider(new_key)
        return self._keys.rotate(provider, batch_size=batch_size, progress=progress)

    @property
    def master_key_id(self) -> str:
        """The id (never the key) of the master key new keys are wrapped under."""
        return self._keys.master_key_id

    # -------------------------------------------------------------- helpers

    def _who(self, actor: str | None) -> str | None:
        return check.check_actor(actor) if actor is not None else self._actor

    def _secret_id(self, name: str, namespace: str | None) -> UUID | None:
        secret_id = self._addresses.get((namespace, name))
        if secret_id is not None:
            return secret_id
        reservation_id = self._keys.name_reservation_id(namespace, name)
        events = list(self._app.events.get(reservation_id, limit=1))
        if not events:
            return None
        first = events[0]
        assert isinstance(first, NameReservation.Created)
        # Reservations never change, so this mapping can be kept for good.
        with self._addresses_lock:
            if len(self._addresses) >= _NAME_CACHE_LIMIT:
                self._addresses.clear()
            self._addresses[namespace, name] = first.secret_id
        return first.secret_id

    def _lookup(
        self, name: str, namespace: str | None, *, full: bool = False
    ) -> Secret | Tombstone | None:
        secret_id = self._secret_id(name, namespace)
        return None if secret_id is None else self._load(secret_id, full=full)

    def _from_head(self, secret_id: UUID, row: HeadRow | None) -> Secret | None:
        """The secret from its head row; None when the stream must say instead.

        No head, a stale one or a shredded one: the stream says what happened.
        """
        if row is None or row.key is None or row.version != row.last_version:
            return None
        self._keys.preload(secret_id, row.key)
        head = self._app.shredding_mapper.open_head(secret_id, row.version, row.state)
        return None if head is None else head.mutate(None)

    def _load(
        self, secret_id: UUID, *, full: bool = False
    ) -> Secret | Tombstone | None:
        """The secret from its head (flat in history), or ``full``y replayed."""
        if not full:
            row = self._app.recorder.select_head(secret_id)  # type: ignore[attr-defined]
            found = self._from_head(secret_id, row)
            if found is not None:
                return found
        for _ in range(2):
            events = list(self._app.events.get(secret_id))
            if not events or not _is_secret_stream(events[0]):
                return None
            try:
                return replay(events)
            except IncompleteStreamError:
                # A delete committed between reading the events and the key.
                continue
        msg = f"secret {secret_id} is shredded but its tombstone is missing"
        raise SecretDeletedError(msg)

    @staticmethod
    def _require_live(
        found: Secret | Tombstone | None, name: str, namespace: str | None
    ) -> Secret:
        if isinstance(found, Tombstone):
            raise SecretDeletedError(f"secret {describe(name, namespace)} was deleted")
        if found is None:
            raise SecretNotFoundError(f"secret {describe(name, namespace)} not found")
        return found

    def _value_at(self, secret: Secret, version: int) -> Value:
        position = secret.position_of(version)
        past = replay(list(self._app.events.get(secret.id, lte=position)))
        assert isinstance(past, Secret)
        assert past.value is not None
        return past.value


# ------------------------------------------------------------------ helpers


def _is_secret_stream(first: object) -> bool:
    if isinstance(first, Shredded):
        return first.topic in TOPIC_CLASSES
    return isinstance(first, Secret.Created)


def _fields_for(value: Value) -> dict[str, Any]:
    return {
        "value": value,
        "description": None,
        "token_type": None,
        "allowed_apps": (),
        "envs": (),
        "expires_at": None,
        "tags": {},
    }


def _info(row: Row, now: datetime) -> SecretInfo:
    status = Status(row.status)
    return SecretInfo(
        id=row.id,
        name=row.name,
        namespace=row.namespace,
        version=row.version,
        description=row.description,
        token_type=row.token_type,
        allowed_apps=tuple(row.allowed_apps),
        envs=tuple(row.envs),
        expires_at=row.expires_at,
        tags=dict(row.tags),
        status=status,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        is_expired=(
            status is not Status.DELETED
            and row.expires_at is not None
            and row.expires_at <= now
        ),
    )


def _entry(item: Any, name: str, namespace: str | None) -> AuditEntry:
    return AuditEntry(
        at=item.timestamp,
        actor=item.actor,
        action=action_of(item),
        secret_id=item.originator_id,
        name=name,
        namespace=namespace,
        version=value_version_of(item),
    )


@dataclass(frozen=True, slots=True)
class _Request:
    """A write made under a client's request id: where its receipt goes, and what."""

    receipt_id: UUID
    operation: str
    fingerprint: str


_METADATA_CHECKS: dict[str, Callable[[Any], Any]] = {
    "description": lambda v: check.check_text(v, "description"),
    "token_type": lambda v: check.check_optional_label(v, "token type"),
    "allowed_apps": lambda v: check.check_labels(v, "allowed apps"),
    "envs": lambda v: check.check_labels(v, "envs"),
    "expires_at": lambda v: check.check_moment(v, "expiry"),
    "tags": check.check_tags,
}


_EXPORT_AAD = b"strongroom/export/secret/"
_EXPORTED_METADATA = ("description", "token_type", "allowed_apps", "envs", "tags")


def _export_aad(name: str, namespace: str | None) -> bytes:
    return _EXPORT_AAD + json.dumps([namespace, name]).encode()


def _export_line(secret: Secret, sealer: Sealer | None) -> dict[str, Any]:
    """One secret as an export line (its value sealed when a sealer is given)."""
    line: dict[str, Any] = {"name": secret.name, "namespace": secret.namespace}
    if sealer is None:
        line["value"] = secret.value
    else:
        text = json.dumps(secret.value, ensure_ascii=False)
        line["sealed"] = seal(sealer, text, _export_aad(secret.name, secret.namespace))
    line.update(
        description=secret.description,
        token_type=secret.token_type,
        allowed_apps=list(secret.allowed_apps),
        envs=list(secret.envs),
        expires_at=None if secret.expires_at is None else secret.expires_at.isoformat(),
        tags=dict(secret.tags),
        status=str(secret.status),
    )
    return line


def _import_line(
    item: dict[str, Any], sealer: Sealer | None
) -> tuple[str, str | None, dict[str, Any], bool]:
    """``(name, namespace, fields, revoked)`` of one export line, validated."""
    name = check.check_name(item.get("name"))
    namespace = check.check_namespace(item.get("namespace"))
    value = field(item, sealer, "value", _export_aad(name, namespace))
    if sealer is not None and value is not None:
        try:
            value = json.loads(value)
        except ValueError:
            msg = "invalid value: the sealed text is not JSON"
            raise ValidationError(msg) from None
    status = item.get("status", "active")
    if status not in {"active", "revoked"}:
        msg = "invalid status: expected 'active' or 'revoked'"
        raise ValidationError(msg)
    expires_at = item.get("expires_at")
    if expires_at is not None:
        expires_at = check.parse_moment(expires_at, "expires_at")
    metadata = {
        key: item[key] for key in _EXPORTED_METADATA if item.get(key) is not None
    }
    fields = _create_fields(value, expires_at=expires_at, **metadata)
    return name, namespace, fields, status == "revoked"


def _create_fields(value: Value, **metadata: Any) -> dict[str, Any]:
    """A new secret's validated fields: its value, and metadata given or defaulted."""
    return {
        "value": check.check_value(value),
        **_metadata_changes({**_CREATE_DEFAULTS, **metadata}),
    }


_CREATE_DEFAULTS: dict[str, Any] = {
    "description": None,
    "token_type": None,
    "allowed_apps": (),
    "envs": (),
    "expires_at": None,
    "tags": None,
}


def _given(**fields: Any) -> dict[str, Any]:
    """The optional fields a caller passed (those left UNSET dropped)."""
    return {key: val for key, val in fields.items() if val is not UNSET}


def _metadata_changes(given: Mapping[str, Any]) -> dict[str, Any]:
    """Validated metadata changes (only the fields given)."""
    return {key: _METADATA_CHECKS[key](val) for key, val in given.items()}
