"""strongroom export / import from the shell, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from tests.e2e.cli import invoke

KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch, store_url: str) -> str:
    monkeypatch.setenv("STRONGROOM_DATABASE_URL", store_url)
    monkeypatch.setenv("STRONGROOM_MASTER_KEY", KEY)
    return store_url


def test_export_needs_a_mode_and_imports_into_another_store_when_given_one(
    shell: str, other_store_url: str, tmp_path: Path
) -> None:
    for i in range(3):
        assert invoke("put", f"svc-{i}", stdin=f"cli-canary-{i}")[0] == 0
    code, _, err = invoke("export")
    assert code == 2
    assert "plaintext" in err

    target = tmp_path / "secrets.ndjson"
    assert invoke("export", "--plaintext", "-o", str(target))[0] == 0
    assert target.stat().st_mode & 0o777 == 0o600
    lines = target.read_text().splitlines()
    assert [json.loads(line)["value"] for line in lines] == [
        f"cli-canary-{i}" for i in range(3)
    ]
    code, out, _ = invoke("--url", other_store_url, "import", str(target), "--json")
    assert (code, json.loads(out)) == (0, {"imported": 3})
    code, _, err = invoke("--url", other_store_url, "import", str(target))
    assert code == 4
    assert "import line 1" in err


def test_sealed_export_round_trips_through_stdin_when_a_transport_key_file_is_given(
    shell: str, other_store_url: str, tmp_path: Path
) -> None:
    assert invoke("put", "svc", stdin="sealed-cli-canary")[0] == 0
    transport = tmp_path / "transport.key"
    transport.write_text(base64.b64encode(os.urandom(32)).decode())

    code, out, _ = invoke("export", "--transport-key-file", str(transport))
    assert code == 0
    assert "sealed-cli-canary" not in out
    code, _, _ = invoke(
        "--url",
        other_store_url,
        "import",
        "-",
        "--transport-key-file",
        str(transport),
        stdin=out,
    )
    assert code == 0
    assert invoke("--url", other_store_url, "reveal", "svc") == (
        0,
        "sealed-cli-canary",
        "",
    )
