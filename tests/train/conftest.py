"""Fixtures of the train tests: a small dataset folder in the contract's row format."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_rows import write_dataset


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "ds")


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNEWISE_HOME", str(tmp_path / "state"))
