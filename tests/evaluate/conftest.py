"""Fixtures of the evaluate tests: an isolated state folder per test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own state folder, so the generation cache starts empty."""
    home = tmp_path / "state"
    monkeypatch.setenv("TUNEWISE_HOME", str(home))
    return home
