"""The API reference in docs/ is generated from the code and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_api_reference_matches_the_code_when_checked() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "api_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr


def test_api_reference_covers_every_public_name_when_generated() -> None:
    import strongroom

    text = (ROOT / "docs" / "api.md").read_text()

    missing = [name for name in strongroom.__all__ if f"`{name}" not in text]
    assert missing == [] or set(missing) <= {"__version__"}, missing
    for method in ("sm.reveal(", "sm.keys.get_secret(", "sm.tokens.create("):
        assert method in text
