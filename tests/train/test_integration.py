"""Integration: the real 135M model learns Banking77 intents; data-parallel training on 2 CPU processes."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tunewise.train.backend import LocalBackend, TrainRequest
from tunewise.train.config import TrainConfig

pytestmark = pytest.mark.integration
SYSTEM = 'Classify the banking customer query. Reply with JSON {"intent": <label>}.'


def _banking_rows(csv_path: Path, intents: int = 10, per_intent: int = 30) -> list[dict]:
    by: dict[str, list[str]] = {}
    with open(csv_path, encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            by.setdefault(r["category"], []).append(r["text"])
    labels = sorted(by)[:intents]
    rows = []
    for lab in labels:
        for i, text in enumerate(by[lab][:per_intent]):
            rows.append(
                {
                    "id": f"{lab}-{i}",
                    "messages": [
                        {
                            "role": "system",
                            "content": SYSTEM + " Labels: " + ", ".join(labels) + ".",
                        },
                        {"role": "user", "content": text},
                        {"role": "assistant", "content": json.dumps({"intent": lab})},
                    ],
                }
            )
    random.Random(0).shuffle(rows)
    return rows


def _accuracy(base: str, adapter: Path | None, rows: list[dict]) -> float:
    from tunewise.infer import generate

    gens = generate(
        [r["messages"][:-1] for r in rows], base, adapter, max_new_tokens=16, batch_size=20
    )
    ok = 0
    for g, r in zip(gens, rows, strict=True):
        with contextlib.suppress(ValueError, AttributeError):
            ok += (
                json.loads(g.text).get("intent")
                == json.loads(r["messages"][-1]["content"])["intent"]
            )
    return ok / len(rows)


def test_finetuning_beats_the_base_on_held_out_banking77(banking77_csv, tmp_path):
    from tunewise.models import resolve_base

    rows = _banking_rows(banking77_csv)
    train, val, test = rows[:200], rows[200:240], rows[240:300]
    ds = tmp_path / "ds"
    ds.mkdir()
    for name, part in (("train", train), ("validation", val)):
        (ds / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    cfg = TrainConfig(epochs=2, learning_rate=1e-3, batch_size=8)
    job = LocalBackend().submit(TrainRequest(ds, cfg, tmp_path / "adapter", progress=False))
    assert job.status == "succeeded"
    base = str(resolve_base("smollm2-135m"))
    before, after = _accuracy(base, None, test), _accuracy(base, tmp_path / "adapter", test)
    print(f"held-out accuracy: base {before:.2f}, fine-tuned {after:.2f}")
    assert after > before + 0.2


def test_two_process_gloo_data_parallel(tiny_model, tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from train_rows import write_dataset

    ds = write_dataset(tmp_path / "ds", n_train=32)
    env = {**os.environ, "TUNEWISE_HOME": str(tmp_path / "state")}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "tunewise.train",
        "--data",
        str(ds),
        "--base",
        str(tiny_model),
        "--out",
        str(tmp_path / "out"),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--threads",
        "1",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "on 2 process(es)" in proc.stdout
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert (
        manifest["metrics"]["world_size"] == 2 and manifest["metrics"]["steps"] == 4
    )  # 8 batches over 2 ranks
