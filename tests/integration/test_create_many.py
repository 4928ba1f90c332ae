"""create_many: bulk creates in batches, each batch all or nothing."""

from __future__ import annotations

import pytest

from strongroom import SecretExistsError, SecretsManager, ValidationError


def test_every_secret_is_revealable_when_created_in_batches(sm: SecretsManager) -> None:
    created = sm.create_many(
        ((f"bulk/{i:03d}", f"v{i}") for i in range(25)), batch_size=10
    )

    assert created == 25
    assert sm.reveal("bulk/017") == "v17"
    assert sm.stats().total == 25
    assert [s.name for s in sm.list(prefix="bulk/", limit=3).items] == [
        "bulk/000",
        "bulk/001",
        "bulk/002",
    ]


def test_a_batch_writes_nothing_when_one_name_is_taken(sm: SecretsManager) -> None:
    sm.create("taken", "v")

    with pytest.raises(
        SecretExistsError, match="created before this batch: 2"
    ) as caught:
        sm.create_many(
            [("a", "1"), ("b", "2"), ("c", "3"), ("taken", "4")], batch_size=2
        )

    assert "taken" in str(caught.value)
    assert [sm.exists(n) for n in ("a", "b", "c")] == [True, True, False]
    assert sm.reveal("taken") == "v"


def test_a_batch_writes_nothing_when_an_item_is_invalid(sm: SecretsManager) -> None:
    with pytest.raises(ValidationError):
        sm.create_many([("fine", "1"), ("bad//name", "2")])

    assert sm.exists("fine") is False
    assert sm.stats().total == 0
