"""Idempotent writes: request ids, the receipts saved with a write, and the
answers a retry gets from them."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, TypeVar

from strongroom.domain import validation as check
from strongroom.domain.errors import (
    ConflictError,
    SecretDeletedError,
)
from strongroom.domain.reservations import RequestReceipt
from strongroom.domain.results import Secret
from strongroom.domain.secret import SecretAggregate
from strongroom.services.base import (
    RequestRecord,
    Service,
    now,
)

T = TypeVar("T")


class Requests(Service):
    """Request ids and their receipts."""

    def request(
        self, request_id: str | None, operation: str, *arguments: object
    ) -> RequestRecord | None:
        """The record of a write made under ``request_id`` (None without one)."""
        if request_id is None:
            return None
        request_id = check.check_request_id(request_id)
        return RequestRecord(
            self._keys.request_receipt_id(request_id),
            operation,
            self._keys.fingerprint(operation, *arguments),
            request_id,
        )

    def answered(self, request: RequestRecord | None) -> RequestReceipt.Created | None:
        """The receipt of an earlier call with this request id, if any."""
        if request is None:
            return None
        events = list(self._repo.events(request.receipt_id, limit=1))
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
    def receipts(
        request: RequestRecord | None, secret: SecretAggregate, at: datetime
    ) -> list[RequestReceipt]:
        """The receipt to save with a write made under ``request`` (none without one)."""
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

    def answer_info(self, receipt: RequestReceipt.Created) -> Secret:
        """What a retried create, put or update answers: the secret as it is now."""
        with self._repo.operation():
            found = self._repo.load(receipt.secret_id)
        if not isinstance(found, SecretAggregate):
            msg = (
                f"the secret this request wrote ({receipt.secret_id}) was deleted since"
            )
            raise SecretDeletedError(msg)
        return found.info(now())

    def answer_patch(self, receipt: RequestReceipt.Created) -> dict[str, Any]:
        """What a retried patch answers: the value before the first call's patch."""
        if receipt.value_version == 1:
            return {}
        with self._repo.operation():
            found = self._repo.load(receipt.secret_id, full=True)
            if not isinstance(found, SecretAggregate):
                msg = f"the secret this request wrote ({receipt.secret_id}) was deleted since"
                raise SecretDeletedError(msg)
            before = self._repo.value_at(found, receipt.value_version - 1)
        return copy.deepcopy(before) if isinstance(before, dict) else {}
