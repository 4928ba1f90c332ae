"""The use cases, without a database: the services over an in-memory repository and
key ring that keep the same contracts (optimistic concurrency, derived ids)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from strongroom.domain.access import Caller
from strongroom.domain.errors import (
    AccessDeniedError,
    ConflictError,
    NameReservedError,
    RotationFailedError,
    SecretDeletedError,
    SecretExistsError,
    SecretPendingDeletionError,
    VersionConflictError,
)
from strongroom.domain.reservations import NameReservation
from strongroom.domain.secret import SecretAggregate
from strongroom.domain.stream import Tombstone, replay
from strongroom.domain.validation import Value
from strongroom.infrastructure.recorders import KeyChange
from strongroom.services.base import Store
from strongroom.services.changes import Changes
from strongroom.services.lifecycle import Lifecycle
from strongroom.services.patch import Patches
from strongroom.services.reads import Reads
from strongroom.services.requests import Requests
from strongroom.services.writes import Writes


class MemoryRepository:
    """Streams in a dict; a save appends all its events or none (IntegrityError)."""

    def __init__(self, keys: MemoryKeys) -> None:
        self.streams: dict[UUID, list[Any]] = {}
        self._keys = keys
        self.saves = 0

    def operation(self) -> AbstractContextManager[Any]:
        return nullcontext()

    def save(self, *objs: Any, **kwargs: Any) -> None:
        events: list[Any] = []
        for obj in objs:
            events += obj.collect_events() if isinstance(obj, Aggregate) else [obj]
        lengths = {key: len(stream) for key, stream in self.streams.items()}
        for item in events:
            expected = lengths.get(item.originator_id, 0) + 1
            if item.originator_version != expected:
                raise IntegrityError(item.originator_id)
            lengths[item.originator_id] = expected
        for item in events:
            self.streams.setdefault(item.originator_id, []).append(item)
        self.saves += 1

    def events(self, stream_id: UUID, **options: Any) -> Iterator[Any]:
        found = self.streams.get(stream_id, [])
        if options.get("lte") is not None:
            found = [e for e in found if e.originator_version <= options["lte"]]
        return iter(found[: options.get("limit")])

    def secret_id(self, name: str, namespace: str | None) -> UUID | None:
        stream = self.streams.get(self._keys.name_reservation_id(namespace, name))
        if not stream:
            return None
        first = stream[0]
        assert isinstance(first, NameReservation.Created)
        return first.secret_id

    def lookup(
        self, name: str, namespace: str | None, *, full: bool = False
    ) -> SecretAggregate | Tombstone | None:
        secret_id = self.secret_id(name, namespace)
        return None if secret_id is None else self.load(secret_id, full=full)

    def load(
        self, secret_id: UUID, *, full: bool = False
    ) -> SecretAggregate | Tombstone | None:
        del full  # replayed every time: always complete
        stream = self.streams.get(secret_id)
        return replay(stream) if stream else None

    def load_page(self, ids: list[UUID]) -> list[SecretAggregate | Tombstone | None]:
        return [self.load(i) for i in ids]

    def value_at(self, secret: SecretAggregate, version: int) -> Value:
        position = secret.position_of(version)
        value: Value = self.streams[secret.id][position - 1].value
        return value


class MemoryKeys:
    """Derived ids and fingerprints without keys; data keys are not kept."""

    def __init__(self) -> None:
        self.forgotten: list[UUID] = []

    def name_reservation_id(self, namespace: str | None, name: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"name/{namespace}/{name}")

    def request_receipt_id(self, request_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"request/{request_id}")

    def fingerprint(self, *parts: object) -> str:
        return json.dumps(parts, sort_keys=True, default=str)

    def wrap(self, key_id: UUID, material: bytes) -> KeyChange:
        del material
        return KeyChange(key_id, b"wrapped", "kek:memory")

    def staged(self, key_id: UUID, data_key: bytes) -> AbstractContextManager[None]:
        del key_id, data_key
        return nullcontext()

    def forget(self, key_id: UUID) -> None:
        self.forgotten.append(key_id)


class Services:
    """The services wired as the face wires them, over the in-memory store."""

    def __init__(self, *, strict_access: bool = False) -> None:
        self.keys = MemoryKeys()
        self.repo = MemoryRepository(self.keys)
        store = Store(
            repo=self.repo,
            keys=self.keys,
            view=None,  # type: ignore[arg-type] - listings are not exercised here
            catch_up=None,  # type: ignore[arg-type]
            log=None,  # type: ignore[arg-type] - nor is the change feed
            actor="tester",
            audit_reads=False,
            strict_access=strict_access,
        )
        requests = Requests(store)
        self.reads = Reads(store)
        self.writes = Writes(store, requests)
        self.changes = Changes(store, requests, self.writes)
        self.patches = Patches(store, requests, self.writes, self.reads, self.changes)
        self.lifecycle = Lifecycle(store, self.changes)


@pytest.fixture
def services() -> Services:
    return Services()


def test_names_are_unique_and_reserved_for_good_when_created_again(
    services: Services,
) -> None:
    services.writes.create("db", "v1")

    with pytest.raises(SecretExistsError):
        services.writes.create("db", "v2")
    assert services.changes.delete("db") is True
    with pytest.raises(NameReservedError):
        services.writes.create("db", "v3")
    assert len(services.keys.forgotten) == 1


def test_a_stale_expected_version_writes_nothing_when_updating(
    services: Services,
) -> None:
    services.writes.create("db", "v1")
    services.changes.update("db", value="v2")
    saves = services.repo.saves

    with pytest.raises(VersionConflictError):
        services.changes.update("db", value="v3", expected_version=1)

    assert services.repo.saves == saves
    assert services.reads.reveal("db") == "v2"
    assert services.reads.reveal("db", version=1) == "v1"


def test_a_retried_request_is_answered_from_its_receipt_when_repeated(
    services: Services,
) -> None:
    first = services.writes.create("db", "v1", request_id="r-1")
    again = services.writes.create("db", "v1", request_id="r-1")

    assert again.id == first.id
    with pytest.raises(ConflictError):
        services.writes.create("db", "other", request_id="r-1")


def test_patches_merge_and_create_when_the_secret_is_missing(
    services: Services,
) -> None:
    assert services.patches.patch("flags", {"a": 1}) == {}
    assert services.patches.patch("flags", {"b": 2, "a": None}) == {"a": 1}

    assert services.reads.reveal("flags") == {"b": 2}


def test_deleted_secrets_cannot_be_revealed_when_shredded(services: Services) -> None:
    services.writes.create("db", "v1")
    services.changes.delete("db")

    with pytest.raises(SecretDeletedError):
        services.reads.reveal("db")


def test_restricted_secrets_follow_the_reveal_policy_when_access_is_strict() -> None:
    strict = Services(strict_access=True)
    strict.writes.create("svc", "v", allowed_apps=["billing"], envs=["prod"])

    with pytest.raises(AccessDeniedError):
        strict.reads.reveal("svc")
    assert strict.reads.reveal("svc", app="billing", env="prod") == "v"
    caller = Caller(app="web", env="prod", strict=True)
    with pytest.raises(AccessDeniedError):
        strict.reads.reveal_with_version("svc", caller=caller)


def test_merge_patches_compare_and_swap_on_the_value_version_when_applied(
    services: Services,
) -> None:
    services.writes.create("cfg", {"db": {"host": "a", "port": 1}, "debug": True})

    merged = services.patches.merge_patch("cfg", {"db": {"host": "b"}, "debug": None})

    assert merged.version == 2
    assert services.reads.reveal("cfg") == {"db": {"host": "b", "port": 1}}
    with pytest.raises(VersionConflictError, match="version 2"):
        services.patches.merge_patch("cfg", {"x": 1}, expected_version=1)
    assert services.reads.reveal("cfg") == {"db": {"host": "b", "port": 1}}


def test_a_rotation_resumes_at_the_step_that_failed_when_run_again(
    services: Services,
) -> None:
    services.writes.create("db", "old")
    steps: list[str] = []

    def flaky(step: str, name: str, value: Value) -> bool:
        steps.append(step)
        return not (step == "test" and steps.count("test") == 1)

    with pytest.raises(RotationFailedError):
        services.lifecycle.rotate("db", hook=flaky, value="new")
    assert services.reads.reveal("db") == "old"
    services.lifecycle.rotate("db", hook=flaky)

    assert steps == ["set", "test", "test"]
    assert services.reads.reveal("db") == "new"
    assert services.reads.reveal("db", stage="previous") == "old"


def test_a_scheduled_deletion_is_restored_or_shredded_when_asked(
    services: Services,
) -> None:
    services.writes.create("a", "v")
    services.writes.create("b", "v")
    for name in ("a", "b"):
        assert services.changes.delete(name, recovery_window=timedelta(days=7))

    with pytest.raises(SecretPendingDeletionError):
        services.reads.reveal("a")
    assert services.lifecycle.restore("a") is True
    assert services.changes.delete("b") is True  # now, not in a week

    assert services.reads.reveal("a") == "v"
    assert len(services.keys.forgotten) == 1
