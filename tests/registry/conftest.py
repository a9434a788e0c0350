"""Fixtures for the registry tests: a fresh SQLite registry and registered artifacts (the
PostgreSQL fixtures `pg_server` / `pg_url` are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_helpers import BASE_ID, make_adapter, make_dataset

from tunewise.registry import Registry


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def reg(sqlite_url: str) -> Iterator[Registry]:
    with Registry(sqlite_url) as registry:
        yield registry


@pytest.fixture
def world(tmp_path: Path, reg: Registry) -> dict[str, Path]:
    """A dataset and two adapters trained on it, registered as m1 and m2."""
    ds = make_dataset(tmp_path / "data")
    m1 = make_adapter(tmp_path / "runs", "m1", ds)
    m2 = make_adapter(tmp_path / "runs", "m2", ds, seed=1)
    reg.register_model(m1)
    reg.register_model(m2)
    return {"dataset": ds, "m1": m1, "m2": m2, "base": Path(BASE_ID)}
