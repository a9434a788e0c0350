"""One LoRA fine-tune on the Banking77 quality test's split, scored on its 200 held-out rows.

    python bench/banking77_finetune.py DATASET [--epochs auto] [--lr 1e-3] [--threads 1]
        [--max-new-tokens 32] [--out bench/results/banking77_finetune]

DATASET is the data stage's folder of `pytest -m integration tests/pipeline/test_banking77_quality.py`
(`<tmp>/runs/banking77-10/data/dataset`: 10 intents x 20 training rows, 5 validation rows, 20
disjoint held-out rows each in golden.jsonl). Trains through `LocalBackend` (the code `tunewise
train` runs) and scores with `evaluate_variant` and exact match, without the search, so settings can
be compared one at a time; prints one JSON line with the epochs and steps run, the seconds, the
validation loss and the held-out accuracy, and writes the per-case answers under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from machine import machine


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", type=Path)
    p.add_argument("--epochs", default="auto")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--out", type=Path, default=Path("bench/results/banking77_finetune"))
    a = p.parse_args()

    from tunewise.evaluate.api import evaluate_variant
    from tunewise.evaluate.config import EvalConfig
    from tunewise.evaluate.variants import Variant
    from tunewise.train.backend import LocalBackend, TrainRequest
    from tunewise.train.config import TrainConfig

    epochs = a.epochs if a.epochs == "auto" else int(a.epochs)
    cfg = TrainConfig(base="smollm2-135m", batch_size=16, max_length=128, learning_rate=a.lr,
                      epochs=epochs, num_threads=a.threads)  # fmt: skip
    started = time.perf_counter()
    LocalBackend().submit(TrainRequest(a.dataset, cfg, a.out / "adapter", progress=False))
    train_s = time.perf_counter() - started
    metrics = json.loads((a.out / "adapter" / "manifest.json").read_text())["metrics"]
    ecfg = EvalConfig(primary_metric="exact_match", max_new_tokens=a.max_new_tokens,
                      label_field=None, scorers=[{"name": "exact_match"}], cache=False)  # fmt: skip
    cand = Variant(model="smollm2-135m", adapter=str(a.out / "adapter"), name="fine-tuned")
    run = evaluate_variant(a.dataset / "golden.jsonl", cand, ecfg, out=a.out / "eval",
                           progress=False)  # fmt: skip
    print(json.dumps({
        "epochs_planned": metrics["epochs"], "epochs_run": metrics["epochs_completed"],
        "steps": metrics["steps"], "lr": a.lr, "train_s": round(train_s),
        "valid_loss": metrics["valid_loss"], "exact_match": run.means()["exact_match"],
        **machine(), "load": os.getloadavg(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
