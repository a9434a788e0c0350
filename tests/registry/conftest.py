"""Fixtures for the registry tests: a fresh SQLite registry, registered artifacts, and a real
PostgreSQL server started by scripts/postgres.sh (tests using it skip when it cannot start)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_helpers import BASE_ID, make_adapter, make_dataset

from tunewise.registry import Registry

REPO = Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a throwaway PostgreSQL server (TUNEWISE_TEST_PG_URL to use an existing one)."""
    pytest.importorskip(
        "psycopg", reason="PostgreSQL tests need psycopg: pip install 'psycopg[binary]'"
    )
    if os.environ.get("TUNEWISE_TEST_PG_URL"):
        yield os.environ["TUNEWISE_TEST_PG_URL"]
        return
    pgdir = f"/tmp/tunewise-pg-test-{uuid.uuid4().hex[:8]}"  # /tmp: the server user must reach it
    try:
        proc = subprocess.run(
            ["bash", str(REPO / "scripts" / "postgres.sh"), "start", pgdir],
            capture_output=True,
            text=True,
            timeout=180,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot start PostgreSQL with scripts/postgres.sh: {exc}")
    if proc.returncode != 0:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "postgres.sh"), "stop", pgdir], capture_output=True
        )
        pytest.skip(
            f"cannot start PostgreSQL with scripts/postgres.sh (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
        )
    try:
        yield proc.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "postgres.sh"), "stop", pgdir],
            capture_output=True,
            timeout=60,
        )


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the test server."""
    import psycopg

    name = f"reg_{uuid.uuid4().hex[:12]}"
    plain = pg_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_server.rsplit("/", 1)[0] + f"/{name}"
