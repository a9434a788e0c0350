"""Builders of real artifact folders for the registry tests, and the concurrency worker
(importable by name, so spawned processes can run it)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_json, sha256_file

BASE_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
BASE_HASH = "b" * 64
GOLDEN = "9" * 64
GOLDEN_ROW = {
    "id": "g1",
    "messages": [{"role": "user", "content": "hi"}],
    "expected": "hello",
    "tags": [],
}


def make_dataset(root: Path, semver: str = "1.0.0") -> Path:
    """A dataset version folder like `tunewise data prepare` writes (files + manifest.json)."""
    folder = root / f"dataset-{semver}"
    folder.mkdir(parents=True)
    rows = [
        {
            "id": f"r{i}",
            "messages": [
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": f"a{i}"},
            ],
        }
        for i in range(4)
    ]
    for name, part in (("train.jsonl", rows[:3]), ("validation.jsonl", rows[3:])):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in part))
    # The shape data/output.py writes: semver under "version", files as {name: {sha256, rows}}.
    files = {
        name: {"sha256": sha256_file(folder / name), "rows": n}
        for name, n in (("train.jsonl", 3), ("validation.jsonl", 1))
    }
    manifest = {
        "format": "tunewise.dataset/1",
        "version": semver,
        "files": files,
        "counts": {"kept": 4},
    }
    atomic_write_json(folder / "manifest.json", manifest)
    return folder


def make_adapter(
    root: Path, name: str, dataset: Path | None, job_id: str | None = None, seed: int = 0
) -> Path:
    """An adapter folder like `tunewise train` writes (PEFT files + manifest.json)."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(
        json.dumps({"r": 16, "lora_alpha": 32, "seed": seed})
    )
    (folder / "adapter_model.safetensors").write_bytes(
        random.Random(f"{name}{seed}").randbytes(256)
    )
    manifest: dict[str, Any] = {
        "kind": "adapter",
        "base_model": {"id": BASE_ID, "path": "/models/smollm2-135m", "hash": BASE_HASH},
        "config": {"method": "lora"},
        "metrics": {"train_loss": 1.0},
        "tokens_trained": 1000,
        "wall_time_s": 1.0,
        "tunewise_version": "0.1.0",
        "job_id": job_id or f"job-{name}",
    }
    if dataset is not None:
        manifest["dataset"] = {
            "path": str(dataset),
            "manifest_sha256": sha256_file(dataset / "manifest.json"),
        }
    atomic_write_json(folder / "manifest.json", manifest)
    return folder


def real_gate(decision: str = "accept", golden: str = GOLDEN) -> dict[str, Any]:
    """A gate decision made by evaluate/gate.py itself, on two runs scored so that it accepts
    (the candidate gets every case right, the base none) or blocks (the candidate gets none)."""
    from tunewise.evaluate.compare import compare_runs
    from tunewise.evaluate.config import EvalConfig
    from tunewise.evaluate.runner import CaseResult, RunResult

    def run(label: str, score: float) -> RunResult:
        cases = [
            CaseResult(f"c{i}", ["intent:a"], "x", "x", {"exact_match": score}, {}, 0.1, 5, 1, 0.0)
            for i in range(30)
        ]
        return RunResult(label, {}, {}, "golden.jsonl", golden, {}, ["exact_match"], cases)

    cand = 1.0 if decision == "accept" else 0.0
    gate = compare_runs(run("base", 0.0), run("candidate", cand), eval_cfg=EvalConfig())["gate"]
    assert gate["decision"] == decision, gate
    return gate


def gate(
    candidate: str, baseline: str, decision: str = "accept", golden: str = GOLDEN, **extra: Any
) -> dict[str, Any]:
    """A gate result for `tunewise registry gate`: evaluate/gate.py's decision and rules, plus which
    models it compared on which golden set."""
    return {
        **real_gate(decision, golden),
        "candidate": candidate,
        "baseline": baseline,
        "golden_sha256": golden,
        **extra,
    }


LEGITIMATE_REFUSALS = (
    "already holds",
    "nothing to roll back",
    "no previous holder to roll back to",
)


def churn(url: str, models: list[str], feature: str, ops: int, seed: int) -> dict[str, int]:
    """Worker: random promotes (gated or forced) and rollbacks on one alias."""
    from tunewise.errors import RegistryError
    from tunewise.registry import Registry

    rng = random.Random(seed)
    done = {"promote": 0, "rollback": 0, "refused": 0}
    with Registry(url) as reg:
        for i in range(ops):
            try:
                if rng.random() < 0.35:
                    reg.rollback(
                        feature, "production", reason=f"p{os.getpid()} op {i}", by=f"worker{seed}"
                    )
                    done["rollback"] += 1
                else:
                    force = rng.random() < 0.3
                    reg.promote(
                        rng.choice(models),
                        feature,
                        "production",
                        reason=f"p{os.getpid()} op {i}",
                        by=f"worker{seed}",
                        force=force,
                    )
                    done["promote"] += 1
            except RegistryError as exc:
                # Another worker got there first: the model already holds the alias, or the
                # alias is back at its first holder. Anything else is a bug: let it fail the test.
                if not any(ok in str(exc) for ok in LEGITIMATE_REFUSALS):
                    raise
                done["refused"] += 1
    return done


def side(label: str, adapter: Path | None, accuracy: float) -> dict[str, Any]:
    """One side of an eval report as evaluate/compare.py's side_summary writes it."""
    from tunewise.infer import adapter_hash

    identity: dict[str, Any] = {"kind": "local", "model": "smollm2-135m", "base_hash": BASE_HASH}
    variant: dict[str, Any] = {
        "kind": "local",
        "model": "smollm2-135m",
        "adapter": str(adapter) if adapter else None,
    }
    if adapter is not None:
        identity["adapter_hash"] = adapter_hash(adapter)
    return {
        "label": label,
        "variant": variant,
        "identity": identity,
        "metrics": {"exact_match": accuracy},
        "latency_s": {"p50": 0.1, "p95": 0.2, "mean": 0.1},
    }


def eval_report(
    candidate: dict[str, Any], base: dict[str, Any], decision: str = "accept", golden: str = GOLDEN
) -> dict[str, Any]:
    """A comparison report.json with the fields evaluate/compare.py and evaluate/gate.py write."""
    return {
        "golden": {"path": "golden.jsonl", "hash": golden, "cases": 10},
        "primary_metric": "exact_match",
        "base": base,
        "candidate": candidate,
        "metrics": {
            "exact_match": {
                "base": base["metrics"]["exact_match"],
                "candidate": candidate["metrics"]["exact_match"],
            }
        },
        "gate": real_gate(decision, golden),
    }
