"""Checks on the request path: a token verified before is checked with one small
query, and a revocation or an expiry made anywhere applies to the very next check;
audited reads share commits like writes do."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from strongroom import SecretsManager, StoreUnavailableError
from tests.conftest import MASTER_KEY
from tests.integration.raw import counted_statements


def test_verify_sees_a_revocation_at_once_when_another_manager_revoked_it(
    store_url: str,
) -> None:
    with (
        SecretsManager.open(store_url, master_key=MASTER_KEY) as server,
        SecretsManager.open(store_url, master_key=MASTER_KEY) as admin,
    ):
        issued = admin.tokens.create(scopes=["secrets:read"])
        assert server.tokens.verify(issued.token) is not None  # now cached there

        assert admin.tokens.revoke(issued.info.id) is True

        assert server.tokens.verify(issued.token) is None


def test_verify_refuses_a_cached_token_when_it_expired_since(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        issued = sm.tokens.create(
            scopes=["secrets:read"], expires_at=datetime.now(UTC) + timedelta(hours=1)
        )
        assert sm.tokens.verify(issued.token) is not None
        later = datetime.now(UTC) + timedelta(hours=2)
        monkeypatch.setattr("strongroom.services.tokens.now", lambda: later)

        assert sm.tokens.verify(issued.token) is None


def test_verify_of_a_known_token_reads_one_small_query_when_its_stream_is_unchanged(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        issued = sm.tokens.create(scopes=["secrets:read"])
        sm.tokens.verify(issued.token)

        with counted_statements(monkeypatch) as sent:
            assert sm.tokens.verify(issued.token) is not None

    assert len(sent) == 1, sent
    assert "max(originator_version)" in sent[0]


def test_verify_refuses_a_wrong_secret_when_the_token_id_is_cached(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        issued = sm.tokens.create(scopes=["secrets:read"])
        assert sm.tokens.verify(issued.token) is not None
        forged = issued.token[:-4] + (
            "AAAA" if not issued.token.endswith("AAAA") else "BBBB"
        )

        assert sm.tokens.verify(forged) is None


# ------------------------------------------------------------------ audited reads


@pytest.mark.parametrize("backend", ["postgres"])
def test_concurrent_audited_reveals_share_commits_when_readers_overlap(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from strongroom.infrastructure.recorders import PostgresKeyStoreRecorder

    batches: list[int] = []
    commit = PostgresKeyStoreRecorder._commit_batch

    def counting(self: PostgresKeyStoreRecorder, writes: Any) -> Any:
        batches.append(len(writes))
        return commit(self, writes)

    monkeypatch.setattr(PostgresKeyStoreRecorder, "_commit_batch", counting)
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.create("shared", "v")
        batches.clear()
        start = threading.Barrier(8)

        def reader() -> None:
            start.wait()
            for _ in range(25):
                assert sm.reveal("shared", audit=True) == "v"

        threads = [threading.Thread(target=reader) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        recorded = list(sm.audit(action="revealed"))

    # Every reveal answered only after its record was committed, and the records
    # of overlapping readers shared transactions.
    assert len(recorded) == sum(batches) == 200
    assert len(batches) < 200


def test_batch_reveal_reads_every_head_in_one_query_when_names_are_known(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"batch-{i}" for i in range(10)]
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        for name in names:
            sm.create(name, f"value-of-{name}")
        sm.reveal_many(names)  # the names' ids are now known to this process

        with counted_statements(monkeypatch) as sent:
            found = sm.reveal_many_with_versions(
                [*names, "missing", "bad\x00name"], audit=True
            )

        assert [found[n] for n in names] == [(f"value-of-{n}", 1) for n in names]
        assert type(found["missing"]).__name__ == "SecretNotFoundError"
        assert type(found["bad\x00name"]).__name__ == "ValidationError"
        assert len(list(sm.audit(action="revealed"))) == 10
    heads = [s for s in sent if "SELECT h." in s]  # the heads query
    assert len(heads) == 1, sent


# ------------------------------------------------------------------ point reads


def test_a_point_read_fails_clearly_then_recovers_when_its_connection_was_killed(
    postgres_url: str,
) -> None:
    with SecretsManager.open(postgres_url, master_key=MASTER_KEY) as sm:
        sm.create("kept", "v1")
        assert sm.reveal("kept") == "v1"  # the reader connection is now kept
        database = postgres_url.rsplit("/", 1)[1].split("?", maxsplit=1)[0]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        assert killed is not None
        assert killed[0] >= 1

        # Each killed kept connection fails one read at most, then is replaced.
        failures: list[str] = []
        for _ in range(10):
            try:
                assert sm.reveal("kept") == "v1"
            except StoreUnavailableError as exc:
                failures.append(str(exc))
        assert not any("v1" in message for message in failures)
        assert len(failures) <= killed[0]
        assert sm.reveal("kept") == "v1"
