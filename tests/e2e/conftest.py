"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty embedded-store home for the command line."""
    path = tmp_path / "cli-home"
    monkeypatch.setenv("STRONGROOM_HOME", str(path))
    return path
