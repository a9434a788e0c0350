"""Shared fixtures: a tiny random model for fast tests, the shared Banking77 data when present."""

from __future__ import annotations

import os
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
