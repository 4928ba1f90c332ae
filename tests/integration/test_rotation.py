"""Master-key rotation and providers: re-wrap every key, resumably, never an event."""

from __future__ import annotations

import base64
import sys
from typing import Any

import pytest

from strongroom import (
    CommandKeyProvider,
    MasterKeyError,
    RawKeyProvider,
    SecretsManager,
)
from tests.conftest import MASTER_KEY
from tests.integration.raw import id_param, query

NEW_KEY = bytes(range(32, 64))
OTHER_KEY = bytes(range(64, 96))


def _populate(sm: SecretsManager) -> None:
    for i in range(12):
        sm.put(f"svc-{i}", f"value-{i}")
    sm.put("svc-0", "value-0-v2")
    sm.keys.set_secret("agg-1", "aggregate-key-1")
    sm.keys.set_secret("agg-2", "aggregate-key-2")
    sm.keys.delete_secret("agg-2")
    sm.delete("svc-11")


def _check_readable(sm: SecretsManager) -> None:
    assert sm.reveal("svc-0") == "value-0-v2"
    assert sm.reveal("svc-0", version=1) == "value-0"
    assert sm.reveal("svc-7") == "value-7"
    assert sm.keys.get_secret("agg-1") == "aggregate-key-1"
    assert sm.keys.get_secret("agg-2") is None
    assert sm.get("svc-11", include_deleted=True).status.value == "deleted"


def _events(url: str) -> list[Any]:
    return query(
        url,
        "SELECT originator_id, originator_version, state FROM strongroom_events "
        "ORDER BY originator_id, originator_version",
    )


def test_rotation_rewraps_every_key_and_no_event_when_given_a_new_key(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        _populate(sm)
        events_before = _events(store_url)
        seen: list[tuple[int, int]] = []

        done = sm.rotate_master_key(
            NEW_KEY, batch_size=3, progress=lambda d, t: seen.append((d, t))
        )

        # 12 data keys - 1 shredded + 1 aggregate key + the store key.
        assert done.rewrapped == 13
        assert done.master_key_id == RawKeyProvider(NEW_KEY).key_id
        assert done.retired == (RawKeyProvider(MASTER_KEY).key_id,)
        assert seen[-1] == (13, 13)
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)
        _check_readable(sm)
        sm.put("after", "rotation")
    assert set(map(tuple, events_before)) <= set(map(tuple, _events(store_url)))
    kinds = query(store_url, "SELECT DISTINCT kek FROM strongroom_keys")
    assert kinds == [(RawKeyProvider(NEW_KEY).key_id,)]

    with SecretsManager.open(store_url, master_key=NEW_KEY) as sm:
        _check_readable(sm)
        assert sm.reveal("after") == "rotation"
    with pytest.raises(MasterKeyError, match="different master key"):
        SecretsManager.open(store_url, master_key=MASTER_KEY)


def test_rotation_leaves_every_event_byte_identical_when_it_runs(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        _populate(sm)
    before = _events(store_url)

    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.rotate_master_key(NEW_KEY)

    assert _events(store_url) == before


class _InterruptedError(Exception):
    pass


def test_an_interrupted_rotation_needs_both_keys_then_finishes_when_rerun(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        _populate(sm)

        def crash(done: int, total: int) -> None:
            if done >= 4:
                raise _InterruptedError

        with pytest.raises(_InterruptedError):
            sm.rotate_master_key(NEW_KEY, batch_size=2, progress=crash)
    keks = dict(
        query(store_url, "SELECT kek, count(*) FROM strongroom_keys GROUP BY kek")
    )
    assert set(keks) == {
        RawKeyProvider(MASTER_KEY).key_id,
        RawKeyProvider(NEW_KEY).key_id,
    }

    with pytest.raises(MasterKeyError, match="unfinished"):
        SecretsManager.open(store_url, master_key=NEW_KEY)
    with pytest.raises(MasterKeyError, match="unfinished"):
        SecretsManager.open(store_url, master_key=MASTER_KEY)
    with pytest.raises(MasterKeyError):
        SecretsManager.open(
            store_url, master_key=OTHER_KEY, previous_master_keys=[MASTER_KEY]
        )

    with SecretsManager.open(
        store_url, master_key=NEW_KEY, previous_master_keys=[MASTER_KEY]
    ) as sm:
        _check_readable(sm)
        sm.put("during", "rotation")
        done = sm.rotate_master_key()
        assert done.retired == (RawKeyProvider(MASTER_KEY).key_id,)

    with SecretsManager.open(store_url, master_key=NEW_KEY) as sm:
        _check_readable(sm)
        assert sm.reveal("during") == "rotation"


def test_previous_keys_come_from_the_environment_when_configured(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        _populate(sm)
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", base64.b64encode(NEW_KEY).decode())
    monkeypatch.setenv(
        "STRONGROOM_MASTER_KEY_PREVIOUS", base64.b64encode(MASTER_KEY).decode()
    )

    with SecretsManager.open(store_url) as sm:
        _check_readable(sm)
        sm.rotate_master_key()
    monkeypatch.delenv("STRONGROOM_MASTER_KEY_PREVIOUS")
    with SecretsManager.open(store_url) as sm:
        _check_readable(sm)


def test_a_pre_rotation_backup_of_a_shredded_key_cannot_be_unwrapped_when_rotated(
    store_url: str,
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        secret = sm.create("gdpr", "personal-data")
        # An old backup holds the wrapped data key of a secret deleted later.
        (backup,) = query(
            store_url,
            "SELECT id, wrapped, kek FROM strongroom_keys WHERE id = ?",
            (id_param(store_url, secret.id),),
        )
        sm.delete("gdpr")
        sm.rotate_master_key(NEW_KEY)
    # Restoring the backed-up row, even relabelled as wrapped by the new key, does
    # not bring the value back: only the destroyed old key could unwrap it.
    query(
        store_url,
        "INSERT INTO strongroom_keys (id, wrapped, kek) VALUES (?, ?, ?)",
        (backup[0], backup[1], RawKeyProvider(NEW_KEY).key_id),
    )
    with SecretsManager.open(store_url, master_key=NEW_KEY) as sm:
        with pytest.raises(Exception) as caught:
            sm.reveal("gdpr")
        assert "personal-data" not in str(caught.value)
        assert type(caught.value).__name__ in {"DecryptionError", "SecretDeletedError"}


def test_a_command_provider_reads_the_key_once_when_it_succeeds(store_url: str) -> None:
    encoded = base64.b64encode(MASTER_KEY).decode()
    command = [sys.executable, "-c", f"print({encoded!r})"]
    provider = CommandKeyProvider(command)

    assert provider.key_id == RawKeyProvider(MASTER_KEY).key_id
    assert encoded not in repr(provider)
    with SecretsManager.open(store_url, master_key=provider) as sm:
        sm.create("x", "y")
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        assert sm.reveal("x") == "y"


def test_a_failing_key_command_is_a_master_key_error_when_configured(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "STRONGROOM_MASTER_KEY_COMMAND",
        f"{sys.executable} -c 'import sys; sys.exit(3)'",
    )

    with pytest.raises(MasterKeyError, match="exit status 3"):
        SecretsManager.open(sqlite_url)
    with pytest.raises(MasterKeyError, match="could not run"):
        CommandKeyProvider(["/nonexistent/kms-cli"])
    with pytest.raises(MasterKeyError, match="32 bytes"):
        CommandKeyProvider([sys.executable, "-c", "print('not-a-key')"])
