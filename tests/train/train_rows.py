"""Rows in the dataset-folder contract format for the train tests."""

from __future__ import annotations

import json
from pathlib import Path

SYSTEM = "Answer with the sum as JSON."


def chat_row(i: int) -> dict:
    a, b = i % 7, (i * 3) % 5
    return {
        "id": f"r-{i:04d}",
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"What is {a} plus {b}?"},
            {"role": "assistant", "content": json.dumps({"sum": a + b})},
        ],
        "provenance": "human",
        "tags": [f"sum:{a + b}"],
        "source": {"file": "sums.jsonl", "line": i + 1},
    }


def write_dataset(folder: Path, n_train: int = 24, n_val: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text(
        "".join(json.dumps(chat_row(i)) + "\n" for i in range(n_train))
    )
    (folder / "validation.jsonl").write_text(
        "".join(json.dumps(chat_row(1000 + i)) + "\n" for i in range(n_val))
    )
    (folder / "manifest.json").write_text(json.dumps({"version": "1.0.0", "files": {}}))
    return folder
