"""The library against odd calls: clear errors instead of crashes, bounded inputs,
reads that refuse what no store can hold, and opening that fails fast and plainly."""

from __future__ import annotations

import os
import stat
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from strongroom import (
    AccessDeniedError,
    SecretsManager,
    StoreUnavailableError,
    ValidationError,
)
from tests.conftest import MASTER_KEY

FAR_EAST = timezone(timedelta(hours=14))


@pytest.mark.parametrize(
    "call",
    [
        lambda sm: sm.reveal_many("abc"),
        lambda sm: sm.create_many(["xy"]),
        lambda sm: sm.stats(soon=timedelta(days=999_999_999)),
        lambda sm: list(sm.audit(since=datetime.min.replace(tzinfo=FAR_EAST))),
        lambda sm: list(sm.audit(until=datetime.max.replace(tzinfo=FAR_EAST))),
        lambda sm: sm.keys.load_secrets(limit=1, skip=10**30),
        lambda sm: sm.create("n", {"n": 10**5000}),
        lambda sm: sm.create(
            "e", "v", expires_at=datetime.max.replace(tzinfo=FAR_EAST)
        ),
        lambda sm: sm.reveal("a", version=10**30),
    ],
    ids=[
        "reveal_many-str",
        "create_many-str-pairs",
        "stats-soon",
        "audit-since",
        "audit-until",
        "load_secrets-skip",
        "huge-int",
        "expiry",
        "huge-version",
    ],
)
def test_odd_calls_raise_validation_errors_and_write_nothing_when_made(
    sm: SecretsManager, call: Any
) -> None:
    sm.create("a", "v")

    with pytest.raises(ValidationError):
        call(sm)

    assert [s.name for s in sm.list().items] == ["a"]
    assert sm.stats().total == 1


@pytest.mark.parametrize(
    "read",
    [
        lambda sm: sm.exists("a\ud800"),
        lambda sm: sm.get("a\x00"),
        lambda sm: sm.keys.get_secret("k\ud800"),
        lambda sm: sm.keys.get_secret("k\x00"),
        lambda sm: sm.list(prefix="\ud800"),
        lambda sm: sm.list(app="\x00"),
        lambda sm: sm.list(env="\ud800"),
        lambda sm: sm.list(tag="k=\x00"),
        lambda sm: sm.list(cursor="\ud800"),
        lambda sm: sm.list(cursor="WyJcdTAwMDAiLCJ4Il0"),  # ["\u0000","x"]
        lambda sm: list(sm.audit(actor="\x00")),
        lambda sm: list(sm.audit(actor="\ud800")),
        lambda sm: sm.reveal("a", app="\ud800"),
    ],
)
def test_read_filters_refuse_what_no_store_can_hold_when_given(
    sm: SecretsManager, read: Any
) -> None:
    sm.create("a", "v")

    with pytest.raises(ValidationError):
        read(sm)

    assert sm.list().items[0].name == "a"


def test_restricted_secrets_need_a_named_app_and_env_when_access_is_strict(
    store_url: str,
) -> None:
    with SecretsManager.open(
        store_url, master_key=MASTER_KEY, strict_access=True
    ) as sm:
        sm.create("svc", "v", allowed_apps=["billing"], envs=["prod"])
        sm.create("open", "o")

        with pytest.raises(AccessDeniedError, match="unnamed app"):
            sm.reveal("svc")
        with pytest.raises(AccessDeniedError, match="unnamed env"):
            sm.reveal("svc", app="billing")
        assert sm.reveal("svc", app="billing", env="prod") == "v"
        assert sm.reveal("open") == "o"
        assert isinstance(sm.reveal_many(["svc"])["svc"], AccessDeniedError)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://postgres@127.0.0.1:1/x", "127.0.0.1:1"),
        ("postgresql://postgres@127.0.0.1:5432/no_such_db_here", "does not exist"),
        ("postgresql://no_such_role:hunter2@127.0.0.1:5432/postgres", "role"),
    ],
)
def test_unusable_databases_fail_fast_naming_host_and_port_when_opened(
    url: str, reason: str
) -> None:
    started = time.monotonic()

    with pytest.raises(StoreUnavailableError) as caught:
        SecretsManager.open(url, master_key=MASTER_KEY)

    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert reason in message
    assert ":1" in message or ":5432" in message
    assert "busy" not in message
    assert "hunter2" not in message


def test_sqlite_urls_whose_directory_is_missing_are_refused_when_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    for url in ("sqlite:///missing/x.db", f"sqlite:///{tmp_path}/missing/x.db"):
        with pytest.raises(ValidationError, match="does not exist"):
            SecretsManager.open(url, master_key=MASTER_KEY)

    assert list(tmp_path.iterdir()) == []


def test_the_embedded_store_is_private_to_its_owner_when_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("STRONGROOM_HOME", str(home))
    old = os.umask(0o022)
    try:
        with SecretsManager.open() as sm:
            sm.create("a", "v")
            files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in home.iterdir()}
    finally:
        os.umask(old)

    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert files["strongroom.db"] == 0o600
    assert files["master.key"] == 0o600
    for name in ("strongroom.db-wal", "strongroom.db-shm"):
        if name in files:
            assert files[name] == 0o600


def test_explicit_sqlite_files_are_made_private_when_created(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with SecretsManager.open(
            f"sqlite:///{tmp_path}/s.db", master_key=MASTER_KEY
        ) as sm:
            sm.create("a", "v")
    finally:
        os.umask(old)

    assert stat.S_IMODE((tmp_path / "s.db").stat().st_mode) == 0o600


def test_bad_names_fail_alone_when_revealed_in_a_batch(sm: SecretsManager) -> None:
    sm.create("a", "v")

    found = sm.reveal_many(["a", "bad\x00name", "../x"])

    assert found["a"] == "v"
    assert isinstance(found["bad\x00name"], ValidationError)
    assert isinstance(found["../x"], ValidationError)
