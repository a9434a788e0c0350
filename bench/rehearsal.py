"""Task accuracy and forgetting of one LoRA fine-tune, with or without `train.rehearsal`.

    python bench/rehearsal.py CONFIG DATASET --rehearsal off|on [--set train.learning_rate=2e-3]
        [--threads 1] [--out bench/results/rehearsal-NAME]

CONFIG is a tunewise.yaml (its train, eval and gate sections are used), DATASET the folder `tunewise
data prepare -c CONFIG -o DATASET` wrote. Trains through `LocalBackend` (what `tunewise train`
runs), scores the golden set with the config's scorers, then runs the general-capability suite on
the base and the fine-tune and compares them with the gate's paired statistics
(`compare.forgetting_summary`: bootstrap CI of the change, McNemar) and its forgetting rule. Prints
one JSON line and writes it, with the per-category suite figures, to `<out>.json`.
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
    p.add_argument("config", type=Path)
    p.add_argument("dataset", type=Path)
    p.add_argument("--rehearsal", choices=["off", "on"], required=True)
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()

    from tunewise.config import load_config, parse_assignments
    from tunewise.evaluate.api import evaluate_variant, settings_from_config
    from tunewise.evaluate.compare import forgetting_summary
    from tunewise.evaluate.forgetting import forgetting_suite, run_suite
    from tunewise.evaluate.gate import forgetting
    from tunewise.evaluate.variants import Variant
    from tunewise.train.backend import LocalBackend, TrainRequest

    overrides = parse_assignments(a.set)
    overrides["train.rehearsal.enabled"] = a.rehearsal == "on"
    if a.threads:
        overrides["train.num_threads"] = a.threads
    cfg = load_config(a.config, overrides)
    adapter = a.out / "adapter"
    started = time.perf_counter()
    LocalBackend().submit(TrainRequest(a.dataset, cfg.train, adapter, progress=False))
    train_s = time.perf_counter() - started
    manifest = json.loads((adapter / "manifest.json").read_text())
    metrics = manifest["metrics"]
    base = Variant(model=cfg.train.base, name="base")
    cand = Variant(model=cfg.train.base, adapter=str(adapter), name="fine-tuned")
    t0 = time.perf_counter()
    task = evaluate_variant(a.dataset / "golden.jsonl", cand, cfg.eval, out=a.out / "eval",
                            progress=False)  # fmt: skip
    task_s = time.perf_counter() - t0
    suite = forgetting_suite(cfg.eval.forgetting_suite or "builtin")
    assert suite is not None
    t0 = time.perf_counter()
    pair = run_suite(suite, (base, cand), settings_from_config(cfg.eval),
                     max_new_tokens=cfg.eval.forgetting_max_new_tokens, progress=False)  # fmt: skip
    assert pair is not None
    suite_s = time.perf_counter() - t0
    f = forgetting_summary(*pair, samples=cfg.eval.bootstrap_samples,
                           confidence=cfg.gate.confidence, seed=cfg.eval.seed)  # fmt: skip
    rule = forgetting({"forgetting": f}, cfg.gate)
    primary = cfg.eval.primary_metric
    result = {
        "rehearsal": a.rehearsal, "share": cfg.train.rehearsal.share if a.rehearsal == "on" else 0,
        "rehearsal_report": metrics.get("rehearsal") or manifest.get("rehearsal"),
        "lr": cfg.train.learning_rate, "epochs_planned": metrics.get("epochs"),
        "epochs_run": metrics.get("epochs_completed"), "steps": metrics.get("steps"),
        "valid_loss": metrics.get("valid_loss"), "train_s": round(train_s),
        "task": {"metric": primary, "score": task.means()[primary], "n": len(task.cases),
                 "eval_s": round(task_s)},
        "general": {"n": f["n"], "base": f["base"], "candidate": f["candidate"],
                    "delta": f["delta"], "ci": f["ci"], "mcnemar": f["mcnemar"],
                    "buckets": f["buckets"], "eval_s": round(suite_s)},
        "gate_forgetting": {"status": rule["status"], "detail": rule["detail"]},
        **machine(), "threads": a.threads, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load": [round(x, 2) for x in os.getloadavg()],
    }  # fmt: skip
    a.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{a.out}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "general"} | {
        "general": {k: v for k, v in result["general"].items() if k != "buckets"}}))  # fmt: skip


if __name__ == "__main__":
    main()
