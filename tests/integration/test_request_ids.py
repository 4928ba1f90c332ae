"""Idempotent writes: a retried request is answered from its receipt, not redone."""

from __future__ import annotations

import threading

import pytest

from strongroom import (
    ConflictError,
    SecretExistsError,
    SecretsManager,
    ValidationError,
)

from .raw import query


def test_a_retried_create_answers_the_first_secret_when_the_request_id_repeats(
    sm: SecretsManager,
) -> None:
    first = sm.create(
        "db/password", "s3cret", tags={"tier": "gold"}, request_id="req-1"
    )

    again = sm.create(
        "db/password", "s3cret", tags={"tier": "gold"}, request_id="req-1"
    )

    assert (again.id, again.version) == (first.id, 1)
    assert [v.version for v in sm.versions("db/password")] == [1]
    with pytest.raises(SecretExistsError):
        sm.create("db/password", "s3cret", tags={"tier": "gold"})


def test_a_request_id_is_a_conflict_and_writes_nothing_when_the_arguments_differ(
    sm: SecretsManager, store_url: str
) -> None:
    sm.create("a", "one", request_id="req-1")
    events = query(store_url, "SELECT count(*) FROM strongroom_events")[0][0]

    with pytest.raises(ConflictError, match="other arguments"):
        sm.create("a", "two", request_id="req-1")
    with pytest.raises(ConflictError):
        sm.create("b", "one", request_id="req-1")
    with pytest.raises(ConflictError):
        sm.put("a", "one", request_id="req-1")

    assert query(store_url, "SELECT count(*) FROM strongroom_events")[0][0] == events
    assert sm.exists("b") is False
    assert sm.reveal("a") == "one"


def test_a_retried_put_adds_one_version_when_the_request_id_repeats(
    sm: SecretsManager,
) -> None:
    sm.put("svc", "v1")
    for _ in range(3):
        info = sm.put("svc", "v2", description="rotated", request_id="rotate-7")

    assert info.version == 2
    assert sorted(v.version for v in sm.versions("svc")) == [1, 2]
    assert sm.reveal("svc") == "v2"
    sm.put("svc", "v3")
    # Answered from the receipt: the request's secret as it is now.
    assert (
        sm.put("svc", "v2", description="rotated", request_id="rotate-7").version == 3
    )


def test_a_retried_update_changes_nothing_again_when_the_request_id_repeats(
    sm: SecretsManager,
) -> None:
    sm.create("svc", "v1")
    sm.update("svc", value="v2", expected_version=1, request_id="u-1")

    # Without the request id this retry would fail its expected version.
    info = sm.update("svc", value="v2", expected_version=1, request_id="u-1")

    assert info.version == 2
    assert sorted(v.version for v in sm.versions("svc")) == [1, 2]


def test_a_retried_patch_returns_the_first_answer_when_the_request_id_repeats(
    sm: SecretsManager,
) -> None:
    sm.patch("cfg", {"a": 1}, request_id="p-0")
    assert sm.patch("cfg", {"a": 1}, request_id="p-0") == {}

    first = sm.patch("cfg", {"b": 2}, request_id="p-1")
    again = sm.patch("cfg", {"b": 2}, request_id="p-1")

    assert first == again == {"a": 1}
    assert sm.reveal("cfg") == {"a": 1, "b": 2}
    assert sorted(v.version for v in sm.versions("cfg")) == [1, 2]


def test_request_ids_are_refused_when_invalid_or_given_with_a_function(
    sm: SecretsManager,
) -> None:
    for bad in ("", "x" * 256, 42):
        with pytest.raises(ValidationError, match="request id"):
            sm.create("a", "v", request_id=bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="request id"):
        sm.patch("cfg", lambda old: {**old, "a": 1}, request_id="p")
    assert sm.exists("a") is False
    assert sm.exists("cfg") is False


def test_concurrent_retries_of_one_request_write_once_when_they_race(
    sm: SecretsManager,
) -> None:
    barrier = threading.Barrier(6)
    results: list[object] = []

    def retry() -> None:
        barrier.wait()
        try:
            results.append(sm.put("raced", "value", request_id="race-1").id)
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=retry) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(results)) == 1, results
    assert sorted(v.version for v in sm.versions("raced")) == [1]


def test_the_receipt_holds_no_argument_in_plaintext_when_stored(
    sm: SecretsManager, store_url: str
) -> None:
    sm.create("plain/name", "canary-value-7", request_id="canary-request-9")

    rows = query(store_url, "SELECT state FROM strongroom_events")
    assert rows
    for (state,) in rows:
        data = bytes(state)
        for canary in (b"canary-value-7", b"canary-request-9", b"plain/name"):
            assert canary not in data
