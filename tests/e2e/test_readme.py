"""The README's library example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _library_example() -> str:
    text = README.read_text()
    section = text.split("## The library", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README has no library example"
    return match.group(1)


def test_readme_library_example_runs_when_executed(tmp_path: Path) -> None:
    code = _library_example()
    namespace = {"db_path": str(tmp_path / "readme.db"), "master_key": bytes(range(32))}

    exec(compile(code, str(README), "exec"), namespace)

    assert "sm" in namespace


def test_readme_key_api_example_runs_when_executed(tmp_path: Path) -> None:
    section = README.read_text().split("## Aggregate keys", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README has no key API example"
    namespace = {"db_path": str(tmp_path / "keys.db"), "master_key": bytes(range(32))}

    exec(compile(match.group(1), str(README), "exec"), namespace)

    assert namespace["key"] == "fresh-key"
