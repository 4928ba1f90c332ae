"""Atomic read-modify-write of JSON-object values."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError

from strongroom.domain import validation as check
from strongroom.domain.errors import (
    SecretExistsError,
    ValidationError,
    VersionConflictError,
    describe,
)
from strongroom.domain.fields import value_only
from strongroom.domain.merge_patch import apply_merge_patch
from strongroom.domain.results import (
    Cause,
    Secret,
)
from strongroom.infrastructure.repository import live
from strongroom.services.base import (
    Service,
    Store,
    now,
)
from strongroom.services.changes import Changes
from strongroom.services.reads import Reads
from strongroom.services.requests import Requests
from strongroom.services.writes import Writes

T = TypeVar("T")


class Patches(Service):
    """Patches JSON-object values."""

    def __init__(
        self,
        store: Store,
        requests: Requests,
        writes: Writes,
        reads: Reads,
        changes: Changes,
    ) -> None:
        super().__init__(store)
        self._requests = requests
        self._writes = writes
        self._reads = reads
        self._changes = changes

    def merge_patch(
        self,
        name: str,
        changes: Mapping[str, Any],
        *,
        namespace: str | None = None,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> Secret:
        """Apply an RFC 7396 merge patch (recursive; null removes) to the value.

        Compare-and-swap on the value version, tried again when another writer
        won; with ``expected_version`` it is tried once, and a secret that moved
        on raises VersionConflictError.
        """
        if not isinstance(changes, Mapping):
            msg = "a merge patch must be a JSON object"
            raise ValidationError(msg)
        if expected_version is not None:
            check.check_version(expected_version)
        for _ in range(5):
            old, version = self._reads.reveal_with_version(
                name, namespace=namespace, audit=False
            )
            if expected_version is not None and expected_version != version:
                msg = f"secret {describe(name, namespace)} is at version {version}"
                raise VersionConflictError(msg)
            try:
                return self._changes.update(
                    name,
                    namespace=namespace,
                    value=apply_merge_patch(old, dict(changes)),
                    expected_version=version,
                    actor=actor,
                )
            except VersionConflictError:
                if expected_version is not None:
                    raise
        msg = f"secret {describe(name, namespace)} kept changing; the patch gave up"
        raise VersionConflictError(msg)

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
        request = self._requests.request(
            request_id, "patch", namespace, name, None if callable(changes) else merge
        )
        for _ in range(max(retries, 0) + 1):
            answered = self._requests.answered(request)
            if answered is not None:
                return self._requests.answer_patch(answered)
            with self._repo.operation():
                found = self._repo.lookup(name, namespace)
                if found is None:
                    new = self._patched(compute, {})
                    try:
                        self._writes.create_new(
                            name, namespace, value_only(new), who, request
                        )
                    except SecretExistsError:
                        continue
                    return {}
                secret = live(found, name, namespace)
                if not isinstance(secret.value, dict):
                    msg = f"secret {describe(name, namespace)} does not hold a JSON object"
                    raise ValidationError(msg)
                old = copy.deepcopy(secret.value)
                new = self._patched(compute, copy.deepcopy(old))
                at = now()
                secret.change_value(new, at=at, actor=who, cause=Cause.PATCHED)
                try:
                    self._repo.save(
                        secret, *self._requests.receipts(request, secret, at)
                    )
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
