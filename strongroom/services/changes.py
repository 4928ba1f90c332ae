"""Changing secrets: put, update, delete (crypto-shred), revoke, reinstate, rollback;
every change retried against concurrent writers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError

from strongroom.domain import validation as check
from strongroom.domain.errors import (
    SecretDeletedError,
    SecretExistsError,
    SecretNotFoundError,
    VersionConflictError,
    describe,
)
from strongroom.domain.fields import metadata_changes, new_secret_fields
from strongroom.domain.generation import Generate
from strongroom.domain.lifecycle import check_recovery_window
from strongroom.domain.reservations import RequestReceipt
from strongroom.domain.results import Secret
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.stream import Tombstone
from strongroom.domain.validation import Value
from strongroom.infrastructure.recorders import KeyChange
from strongroom.infrastructure.repository import live
from strongroom.services.base import (
    MAX_WRITE_RETRIES,
    UNSET,
    RequestRecord,
    Service,
    Store,
    given_fields,
    given_value,
    now,
)
from strongroom.services.requests import Requests
from strongroom.services.writes import Writes

T = TypeVar("T")


class Changes(Service):
    """Changes existing secrets."""

    def __init__(self, store: Store, requests: Requests, writes: Writes) -> None:
        super().__init__(store)
        self._requests = requests
        self._writes = writes

    def put(
        self,
        name: str,
        value: Value | Generate,
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
    ) -> Secret:
        """Create the secret, or add a new value version (and given metadata) to it.

        With ``request_id``, a retry with the same arguments adds no version.
        """
        given = given_fields(
            description=description,
            token_type=token_type,
            allowed_apps=allowed_apps,
            envs=envs,
            expires_at=expires_at,
            tags=tags,
        )
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        value, fingerprinted = given_value(value)
        fields = new_secret_fields(value, **given)
        changes = metadata_changes(given)
        who = self._who(actor)
        request = self._requests.request(
            request_id,
            "put",
            namespace,
            name,
            {**fields, "value": fingerprinted},
            changes,
        )
        for _ in range(MAX_WRITE_RETRIES):
            try:
                return self._writes.create_answering(
                    name, namespace, fields, who, request
                )
            except SecretExistsError:
                pass
            try:
                return self.update_core(
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
        value: Value | Generate = UNSET,
        description: str | None = UNSET,
        token_type: str | None = UNSET,
        allowed_apps: Iterable[str] = UNSET,
        envs: Iterable[str] = UNSET,
        expires_at: datetime | None = UNSET,
        tags: Mapping[str, str] | None = UNSET,
        rotation_interval: timedelta | None = UNSET,
        expected_version: int | None = None,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> Secret:
        """Change only the given fields; None clears an optional field.

        With ``request_id``, a retry with the same arguments changes nothing again.
        """
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        fingerprinted = None
        new_value = None
        if value is not UNSET:
            value, fingerprinted = given_value(value)
            new_value = check.check_value(value)
        changes = metadata_changes(
            given_fields(
                description=description,
                token_type=token_type,
                allowed_apps=allowed_apps,
                envs=envs,
                expires_at=expires_at,
                tags=tags,
                rotation_interval=rotation_interval,
            )
        )
        if expected_version is not None:
            check.check_version(expected_version)
        who = self._who(actor)
        request = self._requests.request(
            request_id,
            "update",
            namespace,
            name,
            fingerprinted,
            changes,
            expected_version,
        )
        return self.update_core(
            name, namespace, new_value, changes, expected_version, who, request
        )

    def update_core(
        self,
        name: str,
        namespace: str | None,
        new_value: Value | None,
        changes: dict[str, Any],
        expected_version: int | None,
        who: str | None,
        request: RequestRecord | None,
    ) -> Secret:
        """Apply a checked update (value and metadata changes) under the request."""

        def change(secret: SecretAggregate) -> None:
            if (
                expected_version is not None
                and secret.value_version != expected_version
            ):
                msg = (
                    f"secret {describe(name, namespace)} is at version "
                    f"{secret.value_version}, not {expected_version}"
                )
                raise VersionConflictError(msg)
            at = now()
            if new_value is not None:
                given_id = None if request is None else request.request_id
                secret.change_value(new_value, at=at, actor=who, version_id=given_id)
            if changes:
                secret.change_metadata(changes, at=at, actor=who)

        answered = self._requests.answered(request)
        if answered is not None:
            return self._requests.answer_info(answered)
        secret, _ = self.mutate(
            name, namespace, change, retry=expected_version is None, request=request
        )
        if isinstance(secret, RequestReceipt.Created):
            return self._requests.answer_info(secret)
        info: Secret = secret.info(now())
        return info

    def delete(
        self,
        name: str,
        *,
        namespace: str | None = None,
        recovery_window: timedelta | None = None,
        actor: str | None = None,
    ) -> bool:
        """Crypto-shred the secret now, or schedule it ``recovery_window`` ahead;
        False if it is missing, already deleted or already scheduled."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        who = self._who(actor)
        if recovery_window is None:
            shredded = self.shred(lambda: self._repo.lookup(name, namespace), who)
            return shredded is not None
        window = check_recovery_window(recovery_window)

        def schedule(secret: SecretAggregate) -> bool:
            at = now()
            return secret.schedule_deletion(at + window, at=at, actor=who)

        try:
            _, changed = self.mutate(name, namespace, schedule, retry=True)
        except (SecretNotFoundError, SecretDeletedError):
            return False
        return bool(changed)

    def shred(
        self,
        find: Callable[[], SecretAggregate | Tombstone | None],
        who: str | None,
        *,
        due: datetime | None = None,
    ) -> SecretAggregate | None:
        """Record the tombstone of the secret ``find`` loads and destroy its key in
        the same transaction; with ``due``, only if its deletion date has come.
        The secret as it was shredded, or None if there was nothing to shred."""
        for _ in range(MAX_WRITE_RETRIES):
            with self._repo.operation():
                found = find()
                if not isinstance(found, SecretAggregate):
                    return None
                if due is not None and (
                    found.deletion_date is None or found.deletion_date > due
                ):
                    return None  # restored meanwhile (or never scheduled)
                found.delete(at=now(), actor=who)
                try:
                    # The data key row goes in the same transaction as the tombstone.
                    self._repo.save(found, key_changes=[KeyChange(found.id)])
                except IntegrityError:
                    continue
                finally:
                    self._keys.forget(found.id)
                return found
        return None

    def revoke(
        self, name: str, *, namespace: str | None = None, actor: str | None = None
    ) -> bool:
        """Stop reveals of the secret; False if it is already revoked."""
        who = self._who(actor)
        _, changed = self.mutate(
            name, namespace, lambda s: s.revoke(at=now(), actor=who), retry=True
        )
        return bool(changed)

    def reinstate(
        self, name: str, *, namespace: str | None = None, actor: str | None = None
    ) -> bool:
        """Allow reveals of a revoked secret again; False if it is not revoked."""
        who = self._who(actor)
        _, changed = self.mutate(
            name, namespace, lambda s: s.reinstate(at=now(), actor=who), retry=True
        )
        return bool(changed)

    def rollback(
        self,
        name: str,
        version: int,
        *,
        namespace: str | None = None,
        actor: str | None = None,
    ) -> Secret:
        """Add a new value version carrying the value of ``version``."""
        version = check.check_version(version)
        who = self._who(actor)

        def roll(secret: SecretAggregate) -> None:
            old = self._repo.value_at(secret, version)
            secret.roll_back(version, old, at=now(), actor=who)

        secret, _ = self.mutate(name, namespace, roll, retry=True, full=True)
        info: Secret = secret.info(now())
        return info

    def mutate(
        self,
        name: str,
        namespace: str | None,
        change: Callable[[SecretAggregate], T],
        *,
        retry: bool,
        full: bool = False,
        request: RequestRecord | None = None,
    ) -> tuple[Any, T | None]:
        """Apply ``change`` and save; with ``request``, a receipt answered meanwhile."""
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        for attempt in range(MAX_WRITE_RETRIES if retry else 1):
            if attempt and (answered := self._requests.answered(request)) is not None:
                return answered, None
            with self._repo.operation():
                secret = live(
                    self._repo.lookup(name, namespace, full=full), name, namespace
                )
                result = change(secret)
                if not secret.pending_events and request is None:
                    return secret, result
                try:
                    self._repo.save(
                        secret, *self._requests.receipts(request, secret, now())
                    )
                except IntegrityError:
                    continue
                return secret, result
        if (answered := self._requests.answered(request)) is not None:
            return answered, None
        msg = f"secret {describe(name, namespace)} changed while it was being written"
        raise VersionConflictError(msg)
