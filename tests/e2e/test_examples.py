"""The worked example in examples/ runs as documented: register, forget, placeholders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user_profiles.py"


def _run(data: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--data", str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def test_user_profiles_forgets_a_person_and_the_directory_shows_a_placeholder_when_run(
    tmp_path: Path,
) -> None:
    data = tmp_path / "profiles"
    ada = _run(data, "register", "Ada", "ada-canary@example.com").stdout.strip()
    bob = _run(data, "register", "Bob", "bob@example.com").stdout.strip()
    _run(data, "change-email", ada, "ada-canary@new.example")
    assert _run(data, "directory").stdout.splitlines() == [
        f"{ada} ada-canary@new.example",
        f"{bob} bob@example.com",
    ]

    assert _run(data, "forget", ada).stdout.strip() == f"{ada}: forgotten"

    assert _run(data, "forget", ada).stdout.strip() == f"{ada}: already forgotten"
    shown = _run(data, "show", ada, ok=False)
    assert (shown.returncode, shown.stderr.strip()) == (3, f"{ada}: forgotten")
    assert _run(data, "show", bob).stdout.strip() == f"{bob} Bob <bob@example.com>"
    assert _run(data, "directory").stdout.splitlines() == [
        f"{ada} <forgotten>",
        f"{bob} bob@example.com",
    ]
    for file in data.iterdir():
        assert b"ada-canary" not in file.read_bytes()
