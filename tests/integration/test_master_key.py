"""Where the master key comes from, and what happens with the wrong one."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from strongroom import MasterKeyError, SecretsManager
from tests.conftest import MASTER_KEY


def test_master_key_is_read_from_the_environment_when_not_given(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.create("svc", "v")
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", base64.b64encode(MASTER_KEY).decode())

    with SecretsManager.open(store_url) as sm:
        assert sm.reveal("svc") == "v"


def test_master_key_is_read_from_a_file_when_configured(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "kek"
    key_file.write_text(base64.b64encode(MASTER_KEY).decode() + "\n")
    monkeypatch.setenv("STRONGROOM_MASTER_KEY_FILE", str(key_file))

    with SecretsManager.open(sqlite_url) as sm:
        sm.create("svc", "v")
    with SecretsManager.open(sqlite_url, master_key=MASTER_KEY) as sm:
        assert sm.reveal("svc") == "v"


def test_an_explicit_store_without_a_master_key_is_refused(sqlite_url: str) -> None:
    with pytest.raises(MasterKeyError, match="no master key"):
        SecretsManager.open(sqlite_url)


def test_the_embedded_default_generates_one_key_and_reuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with SecretsManager.open() as sm:
        sm.create("svc", "v")
    first_warning = capsys.readouterr().err
    with SecretsManager.open() as sm:
        assert sm.reveal("svc") == "v"

    key_file = tmp_path / "home" / "master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert first_warning.count("back it up") == 1
    assert "back it up" not in capsys.readouterr().err


def test_a_store_refuses_another_master_key_at_open(store_url: str) -> None:
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.create("svc", "v")

    with pytest.raises(MasterKeyError):
        SecretsManager.open(store_url, master_key=bytes(32))


def test_ambient_postgres_settings_never_redirect_the_store(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var, value in {
        "POSTGRES_DBNAME": "elsewhere",
        "POSTGRES_HOST": "203.0.113.1",
        "STRONGROOM_POSTGRES_DBNAME": "elsewhere",
        "SQLITE_DBNAME": "/nonexistent/elsewhere.db",
        "PERSISTENCE_MODULE": "eventsourcing.popo",
    }.items():
        monkeypatch.setenv(var, value)

    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        sm.create("svc", "v")
    with SecretsManager.open(store_url, master_key=MASTER_KEY) as sm:
        assert sm.reveal("svc") == "v"
