"""Creating secrets: one, many in batches, and the name reservation that makes a
name unique across processes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from datetime import datetime
from itertools import islice
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError

from strongroom.domain import validation as check
from strongroom.domain.errors import (
    ConflictError,
    NameReservedError,
    SecretExistsError,
    StrongroomError,
    describe,
)
from strongroom.domain.fields import new_secret_fields, value_only
from strongroom.domain.generation import Generate
from strongroom.domain.reservations import NameReservation
from strongroom.domain.results import Secret
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.stream import Tombstone
from strongroom.domain.validation import Value
from strongroom.infrastructure.crypto import new_id, new_key
from strongroom.infrastructure.recorders import KeyChange
from strongroom.services.base import (
    RequestRecord,
    Service,
    Store,
    given_value,
    now,
)
from strongroom.services.requests import Requests

T = TypeVar("T")


class Writes(Service):
    """Creates secrets."""

    def __init__(self, store: Store, requests: Requests) -> None:
        super().__init__(store)
        self._requests = requests

    def create(
        self,
        name: str,
        value: Value | Generate,
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
    ) -> Secret:
        """Create a secret; SecretExistsError if live, NameReservedError if deleted.

        With ``request_id``, a retry with the same arguments answers the first
        call's secret instead of failing; other arguments raise ConflictError.
        """
        name = check.check_name(name)
        namespace = check.check_namespace(namespace)
        value, fingerprinted = given_value(value)
        fields = new_secret_fields(
            value,
            description=description,
            token_type=token_type,
            allowed_apps=allowed_apps,
            envs=envs,
            expires_at=expires_at,
            tags=tags,
        )
        request = self._requests.request(
            request_id, "create", namespace, name, {**fields, "value": fingerprinted}
        )
        return self.create_answering(name, namespace, fields, self._who(actor), request)

    def create_answering(
        self,
        name: str,
        namespace: str | None,
        fields: dict[str, Any],
        actor: str | None,
        request: RequestRecord | None,
    ) -> Secret:
        """Create, or answer a retry of the same request from its receipt."""
        answered = self._requests.answered(request)
        if answered is not None:
            return self._requests.answer_info(answered)
        try:
            return self.create_new(name, namespace, fields, actor, request).info(now())
        except ConflictError:
            # A concurrent retry of the same request may have won.
            answered = self._requests.answered(request)
            if answered is None:
                raise
            return self._requests.answer_info(answered)

    def create_new(
        self,
        name: str,
        namespace: str | None,
        fields: dict[str, Any],
        actor: str | None,
        request: RequestRecord | None = None,
        *,
        revoked: bool = False,
    ) -> SecretAggregate:
        """Create a new secret with its name's reservation and data key, in one save."""
        at = now()
        secret, reservation = self._new_secret(
            name,
            namespace,
            fields,
            actor,
            at,
            version_id=None if request is None else request.request_id,
        )
        if revoked:
            secret.revoke(at=at, actor=actor)
        data_key = new_key()
        receipts = self._requests.receipts(request, secret, at)
        with self._repo.operation(), self._keys.staged(secret.id, data_key):
            try:
                # The reservation's first event is what makes the name unique.
                self._repo.save(
                    reservation,
                    secret,
                    *receipts,
                    key_changes=[self._keys.wrap(secret.id, data_key)],
                )
            except IntegrityError:
                existing = self._repo.lookup(name, namespace)
                if isinstance(existing, Tombstone):
                    msg = (
                        f"the name {describe(name, namespace)} belonged to a deleted "
                        "secret and stays reserved"
                    )
                    raise NameReservedError(msg) from None
                msg = f"secret {describe(name, namespace)} already exists"
                raise SecretExistsError(msg) from None
        return secret

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
        at = now()
        saved: list[Any] = []
        key_changes: list[KeyChange] = []
        names: set[str] = set()
        with self._repo.operation(), ExitStack() as staged:
            for name, value in batch:
                if name in names:
                    msg = f"secret {describe(name, namespace)} is given twice"
                    raise SecretExistsError(msg)
                names.add(name)
                secret, reservation = self._new_secret(
                    name, namespace, value_only(value), actor, at
                )
                data_key = new_key()
                staged.enter_context(self._keys.staged(secret.id, data_key))
                key_changes.append(self._keys.wrap(secret.id, data_key))
                saved += [reservation, secret]
            try:
                self._repo.save(*saved, key_changes=key_changes)
            except IntegrityError:
                taken = [
                    n for n in names if self._repo.secret_id(n, namespace) is not None
                ]
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
        version_id: str | None = None,
    ) -> tuple[SecretAggregate, NameReservation]:
        """A new secret and the first event of its name's reservation stream."""
        secret = SecretAggregate.create(
            secret_id=new_id(),
            at=at,
            name=name,
            namespace=namespace,
            actor=actor,
            version_id=version_id,
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
