"""sm.keys beyond get/set/delete: reSolve's secrets-manager scenario, export/import,
get_or_create_secret and field encryption, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import random
import threading
from itertools import pairwise
from typing import Any

import pytest

from strongroom import (
    DecryptionError,
    KeyDeletedError,
    KeyRecord,
    KeyReusedError,
    SecretsManager,
    ValidationError,
)
from tests.conftest import MASTER_KEY
from tests.integration.processes import race
from tests.integration.raw import query

COUNT = 50


def _id(i: int) -> str:
    return f"id_{i}"


def _secret(i: int) -> str:
    return f"secret_{i}"


def _set_fifty(sm: SecretsManager) -> None:
    for i in range(COUNT):
        sm.keys.set_secret(_id(i), _secret(i))


def test_an_empty_store_loads_nothing_and_no_cursor_when_nothing_was_set(
    sm: SecretsManager,
) -> None:
    page = sm.keys.load_secrets(limit=COUNT)

    assert page.records == ()
    assert page.next_idx is None
    assert sm.keys.describe() == type(sm.keys.describe())(0, 0, 0)


def test_resolve_scenario_pages_by_idx_and_skip_when_fifty_ids_are_set(
    sm: SecretsManager,
) -> None:
    _set_fifty(sm)
    pick = random.randrange(COUNT)
    assert sm.keys.get_secret(_id(pick)) == _secret(pick)

    everything = sm.keys.load_secrets(limit=COUNT + 1)
    assert [r.id for r in everything] == [_id(i) for i in range(COUNT)]
    assert [r.secret for r in everything] == [_secret(i) for i in range(COUNT)]
    idxs = [r.idx for r in everything]
    assert all(a < b for a, b in pairwise(idxs))
    assert everything.next_idx == idxs[-1] + 1

    first = sm.keys.load_secrets(limit=COUNT // 2)
    assert len(first) == COUNT // 2
    rest = sm.keys.load_secrets(idx=first.next_idx, limit=COUNT)
    assert [r.id for r in rest] == [_id(i) for i in range(COUNT // 2, COUNT)]
    empty = sm.keys.load_secrets(idx=rest.next_idx, limit=COUNT)
    assert (empty.records, empty.next_idx) == ((), None)

    skipped = sm.keys.load_secrets(limit=10, skip=10)
    assert [r.id for r in skipped] == [_id(i) for i in range(10, 20)]


def test_ids_filter_returns_only_those_ids_when_given(sm: SecretsManager) -> None:
    _set_fifty(sm)

    found = sm.keys.load_secrets(limit=COUNT, ids=[_id(7), _id(3), "never-set"])

    assert [(r.id, r.secret) for r in found] == [
        (_id(3), _secret(3)),
        (_id(7), _secret(7)),
    ]
    none = sm.keys.load_secrets(limit=COUNT, ids=[])
    assert (none.records, none.next_idx) == ((), None)


def test_deleted_ids_keep_their_idx_and_count_when_included(sm: SecretsManager) -> None:
    _set_fifty(sm)
    before = {r.id: r.idx for r in sm.keys.load_secrets(limit=COUNT)}
    gone = _id(random.randrange(COUNT))

    assert sm.keys.delete_secret(gone) is True

    assert sm.keys.get_secret(gone) is None
    live = sm.keys.load_secrets(limit=COUNT + 1)
    assert len(live) == COUNT - 1
    assert gone not in {r.id for r in live}
    everything = sm.keys.load_secrets(limit=COUNT + 1, include_deleted=True)
    assert {r.id: r.idx for r in everything} == before
    assert [r for r in everything if r.id == gone] == [
        KeyRecord(before[gone], gone, None)
    ]
    assert sm.keys.load_secrets(limit=5, ids=[gone]).records == ()
    stats = sm.keys.describe()
    assert (stats.secret_count, stats.set_secret_count, stats.deleted_secret_count) == (
        COUNT,
        COUNT - 1,
        1,
    )
    # A new id gets a higher idx than any before it, tombstones included.
    sm.keys.set_secret("late", "s")
    (late,) = sm.keys.load_secrets(limit=1, ids=["late"])
    assert late.idx > max(before.values())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": -1},
        {"limit": 10, "skip": -1},
        {"limit": 10, "idx": -5},
        {"limit": True},
        {"limit": 10, "ids": "id_1"},
        {"limit": 10, "ids": [""]},
    ],
    ids=[
        "zero-limit",
        "negative-limit",
        "negative-skip",
        "negative-idx",
        "bool-limit",
        "ids-as-str",
        "empty-id",
    ],
)
def test_load_secrets_rejects_bad_arguments_when_given(
    sm: SecretsManager, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        sm.keys.load_secrets(**kwargs)


def test_export_then_import_reproduces_the_store_when_the_target_is_empty(
    sm: SecretsManager, other_store_url: str
) -> None:
    _set_fifty(sm)
    sm.keys.delete_secret(_id(10))
    sm.keys.delete_secret(_id(11))

    lines = list(sm.keys.export_secrets(plaintext=True))

    assert len(lines) == COUNT
    parsed = [json.loads(line) for line in lines]
    assert all(line.endswith("\n") for line in lines)
    assert {tuple(sorted(p)) for p in parsed} == {("id", "idx", "secret")}
    assert [p["secret"] for p in parsed if p["id"] in {_id(10), _id(11)}] == [
        None,
        None,
    ]
    with SecretsManager.open(other_store_url, master_key=bytes(range(32))) as target:
        result = target.keys.import_secrets(lines)

        assert (result.imported, result.tombstones) == (COUNT - 2, 2)
        assert target.keys.load_secrets(
            limit=COUNT + 1, include_deleted=True
        ) == sm.keys.load_secrets(limit=COUNT + 1, include_deleted=True)
        assert target.keys.describe() == sm.keys.describe()
        # Tombstones stay tombstones: a deleted id cannot come back after migrating.
        with pytest.raises(KeyReusedError):
            target.keys.set_secret(_id(10), "resurrected")
        assert target.keys.delete_secret(_id(10)) is False
        assert target.keys.get_secret(_id(12)) == _secret(12)
        assert target.keys.delete_secret(_id(12)) is True
    # The reservations are in the target's event log, not only in its index.
    with (
        SecretsManager.open(other_store_url, master_key=bytes(range(32))) as reopened,
        pytest.raises(KeyReusedError),
    ):
        reopened.keys.set_secret(_id(11), "again")
    events = query(other_store_url, "SELECT count(*) FROM strongroom_events")[0][0]
    assert events >= COUNT


def test_import_refuses_the_whole_batch_when_one_id_was_used_in_the_target(
    sm: SecretsManager, other_store_url: str
) -> None:
    _set_fifty(sm)
    lines = list(sm.keys.export_secrets(plaintext=True))
    with SecretsManager.open(other_store_url, master_key=MASTER_KEY) as target:
        target.keys.set_secret(_id(30), "theirs")
        target.keys.set_secret("unrelated", "x")
        target.keys.delete_secret("unrelated")

        with pytest.raises(KeyReusedError, match="id_30"):
            target.keys.import_secrets(lines)

        assert target.keys.describe().secret_count == 2
        assert target.keys.get_secret(_id(0)) is None
        assert target.keys.get_secret(_id(30)) == "theirs"


def test_import_renumbers_after_the_target_when_its_idx_are_taken(
    sm: SecretsManager, other_store_url: str
) -> None:
    _set_fifty(sm)
    lines = list(sm.keys.export_secrets(plaintext=True))
    with SecretsManager.open(other_store_url, master_key=MASTER_KEY) as target:
        for i in range(5):
            target.keys.set_secret(f"local_{i}", "x")

        target.keys.import_secrets(lines)

        records = target.keys.load_secrets(limit=100)
        idxs = [r.idx for r in records]
        assert len(set(idxs)) == len(idxs) == COUNT + 5
        assert idxs == sorted(idxs)
        assert [r.id for r in records][5:] == [_id(i) for i in range(COUNT)]


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("not json", "line 1"),
        ('{"idx": 1, "secret": "s"}', "key id"),
        ('{"id": "a", "idx": -1, "secret": "s"}', "idx"),
        ('{"id": "a", "idx": 1, "secret": 5}', "secret"),
        ('{"id": "a", "idx": 1, "sealed": "AAAA"}', "transport key"),
    ],
    ids=["not-json", "no-id", "negative-idx", "non-str-secret", "sealed-without-key"],
)
def test_import_rejects_malformed_lines_and_writes_nothing_when_a_line_is_bad(
    sm: SecretsManager, line: str, match: str
) -> None:
    with pytest.raises(ValidationError, match=match):
        sm.keys.import_secrets([line])

    assert sm.keys.describe().secret_count == 0


def test_import_refuses_an_id_twice_when_the_input_repeats_it(
    sm: SecretsManager,
) -> None:
    lines = ['{"id":"a","idx":1,"secret":"s"}', '{"id":"a","idx":2,"secret":"t"}']

    with pytest.raises(KeyReusedError, match="twice"):
        sm.keys.import_secrets(lines)

    assert sm.keys.describe().secret_count == 0


def test_export_requires_an_explicit_choice_when_key_material_would_leave(
    sm: SecretsManager,
) -> None:
    sm.keys.set_secret("a", "s")

    with pytest.raises(ValidationError, match="plaintext=True"):
        sm.keys.export_secrets()
    with pytest.raises(ValidationError, match="not both"):
        sm.keys.export_secrets(plaintext=True, transport_key=bytes(32))
    with pytest.raises(ValidationError, match="transport key"):
        sm.keys.export_secrets(transport_key=b"short")


def test_sealed_export_imports_only_with_the_transport_key_when_sealed(
    sm: SecretsManager, other_store_url: str
) -> None:
    secret = "canary-key-material-4711"
    sm.keys.set_secret("agg-1", secret)
    sm.keys.set_secret("agg-2", "other")
    sm.keys.delete_secret("agg-2")
    transport = bytes(range(100, 132))

    lines = list(
        sm.keys.export_secrets(transport_key=base64.b64encode(transport).decode())
    )

    assert secret not in "".join(lines)
    assert [json.loads(line)["sealed"] is None for line in lines] == [False, True]
    with SecretsManager.open(other_store_url, master_key=MASTER_KEY) as target:
        with pytest.raises(ValidationError, match="transport key"):
            target.keys.import_secrets(lines, transport_key=bytes(32))
        with pytest.raises(ValidationError, match="no transport key"):
            target.keys.import_secrets(lines)
        assert target.keys.describe().secret_count == 0

        target.keys.import_secrets(lines, transport_key=transport)

        assert target.keys.get_secret("agg-1") == secret
        assert target.keys.describe().deleted_secret_count == 1


def test_get_or_create_returns_one_winner_to_every_thread_when_racing(
    sm: SecretsManager,
) -> None:
    barrier = threading.Barrier(8)
    results: list[str] = []

    def worker(n: int) -> None:
        barrier.wait()
        results.append(sm.keys.get_or_create_secret("agg", lambda: f"candidate-{n}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 8
    assert len(set(results)) == 1
    assert sm.keys.get_secret("agg") == results[0]
    assert sm.keys.describe().secret_count == 1


def _get_or_create_in_process(url: str, n: int, start: Any, results: Any) -> None:
    with SecretsManager.open(url, master_key=MASTER_KEY) as sm:
        start.wait()
        results.put(sm.keys.get_or_create_secret("shared", lambda: f"process-{n}"))


def test_get_or_create_returns_one_winner_to_every_process_when_racing(
    store_url: str,
) -> None:
    outcomes = race(_get_or_create_in_process, [(store_url, n) for n in range(3)])

    assert len(set(outcomes)) == 1
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        assert sm.keys.get_secret("shared") == outcomes[0]


def _set_in_process(url: str, n: int, start: Any, results: Any) -> None:
    with SecretsManager.open(url, master_key=MASTER_KEY) as sm:
        start.wait()
        try:
            sm.keys.set_secret("contested", f"process-{n}")
            results.put(("won", f"process-{n}"))
        except KeyReusedError:
            results.put(("lost", f"process-{n}"))


def test_set_secret_has_exactly_one_winner_when_processes_race(store_url: str) -> None:
    outcomes = race(_set_in_process, [(store_url, n) for n in range(3)])

    assert sorted(kind for kind, _ in outcomes) == ["lost", "lost", "won"]
    (winner,) = [value for kind, value in outcomes if kind == "won"]
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        assert sm.keys.get_secret("contested") == winner
        assert sm.keys.describe().secret_count == 1


def test_get_or_create_raises_instead_of_rekeying_when_the_id_was_deleted(
    sm: SecretsManager,
) -> None:
    sm.keys.set_secret("forgotten", "k1")
    sm.keys.delete_secret("forgotten")

    with pytest.raises(KeyDeletedError, match="forgotten"):
        sm.keys.get_or_create_secret("forgotten", lambda: "k2")

    assert sm.keys.get_secret("forgotten") is None


def test_field_encryption_round_trips_then_forgets_when_the_key_is_deleted(
    sm: SecretsManager,
) -> None:
    fields = sm.keys.encryption_for("user-7")
    token = fields.encrypt({"email": "alice@example.com", "age": 41})

    assert "alice" not in token
    assert fields.decrypt(token) == {"email": "alice@example.com", "age": 41}
    other = sm.keys.encryption_for("user-8")
    other.encrypt("creates user-8's key")
    with pytest.raises(DecryptionError):
        other.decrypt(token)

    sm.keys.delete_secret("user-7")

    assert fields.decrypt(token) is None
    with pytest.raises(KeyDeletedError):
        fields.encrypt("again")


def test_field_decryption_never_creates_a_key_when_none_exists(
    sm: SecretsManager,
) -> None:
    token = sm.keys.encryption_for("a").encrypt("x")

    assert sm.keys.encryption_for("b").decrypt(token) is None

    assert sm.keys.describe().secret_count == 1
    assert sm.keys.get_secret("b") is None
