"""Fixtures of the evaluate tests: an isolated state folder per test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_helpers import chat_rows


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own state folder, so the generation cache starts empty."""
    home = tmp_path / "state"
    monkeypatch.setenv("TUNEWISE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_adapter(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter trained for 30 steps on the tiny model by the project's trainer (about 20 s)."""
    from tunewise.train.config import TrainConfig
    from tunewise.train.run import train_folder
    from tunewise.train.trainer import RunContext

    root = tmp_path_factory.mktemp("adapter")
    data = root / "data"
    data.mkdir()
    rows = [{"messages": [{"role": "user", "content": r["text"]}, {"role": "assistant", "content": json.dumps({"intent": r["label"]})}]}
            for r in chat_rows(48)]  # fmt: skip
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TrainConfig(base=str(tiny_model), epochs=20, max_steps=30, learning_rate=5e-3, batch_size=8,
                      warmup_ratio=0.0, early_stopping_patience=None, seed=0)  # fmt: skip
    train_folder(RunContext(None, None, progress=False), data, root / "adapter", cfg)
    return root / "adapter"
