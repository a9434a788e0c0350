"""The evaluate stage's two entry points, one per CLI verb.

- `evaluate_variant`: one variant on a golden set, scored; optionally written to a folder.
- `compare_variants`: base and candidate on the same golden set (and the general-capability suite),
  paired statistics, the gate decision and the three reports. The caller decides what a blocked
  gate means (the CLI raises GateBlocked so CI fails).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_json, atomic_write_jsonl, read_json
from tunewise.errors import DataError

from .backends import Settings
from .config import EvalConfig, GateConfig
from .forgetting import forgetting_suite, run_suite
from .golden import load_golden
from .runner import CaseResult, RunResult, run_eval
from .scorers import Scorer, build_scorer
from .variants import Variant

__all__ = ["compare_variants", "evaluate_variant", "forgetting_suite", "load_run"]


def scorers_from_config(cfg: EvalConfig) -> list[Scorer]:
    """The configured scorers, built once."""
    return [build_scorer(s.name, s.params) for s in cfg.scorers]


def settings_from_config(cfg: EvalConfig) -> Settings:
    return Settings(
        max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, concurrency=cfg.concurrency
    )


def evaluate_variant(
    golden: str | Path,
    variant: Variant,
    cfg: EvalConfig | None = None,
    *,
    out: str | Path | None = None,
    progress: bool = True,
) -> RunResult:
    """Run and score one variant; with `out`, write eval.json (summary) and results.jsonl (per case)."""
    cfg = cfg or EvalConfig()
    run = run_eval(
        load_golden(golden),
        variant,
        scorers_from_config(cfg),
        settings_from_config(cfg),
        cache=cfg.cache,
        progress=progress,
    )
    if out is not None:
        from .compare import side_summary

        out = Path(out)
        summary = {
            "golden": {"path": run.golden_path, "hash": run.golden_hash, "cases": len(run.cases)},
            **side_summary(run),
            "binary_metrics": run.binary_metrics,
        }
        atomic_write_json(out / "eval.json", summary)
        atomic_write_jsonl(out / "results.jsonl", [c.__dict__ for c in run.cases])
    return run


def load_run(folder: str | Path) -> RunResult:
    """A run written by `evaluate_variant(..., out=folder)` (eval.json + results.jsonl)."""
    folder = Path(folder)
    try:
        summary = read_json(folder / "eval.json")
        lines = (folder / "results.jsonl").read_text(encoding="utf-8").splitlines()
        cases = [CaseResult(**json.loads(line)) for line in lines if line.strip()]
        golden = summary["golden"]
        return RunResult(
            label=summary["label"], variant=summary["variant"], identity=summary["identity"],
            golden_path=golden["path"], golden_hash=golden["hash"], settings=summary["settings"],
            binary_metrics=summary.get("binary_metrics", []), cases=cases,
            wall_s=summary.get("wall_s", 0.0), cache_hits=summary.get("cache_hits", 0),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{folder}: not an eval folder (eval.json + results.jsonl): {exc}") from exc


def compare_variants(
    golden: str | Path,
    base: Variant,
    candidate: Variant,
    *,
    eval_cfg: EvalConfig | None = None,
    gate_cfg: GateConfig | None = None,
    out: str | Path | None = None,
    curve: str | Path | None = None,
    alternatives: list[Variant | RunResult] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate both variants, compare them, apply the gate; with `out`, write report.json/md/html.

    `curve` is a training curve JSON or an adapter folder holding one (defaults to the candidate's
    adapter folder); a missing curve just leaves the chart out. `alternatives` are other
    non-fine-tuned variants (or their finished runs on the same golden set) the candidate must beat.
    """
    from .compare import compare_runs
    from .report import read_curve, write_report

    eval_cfg, gate_cfg = eval_cfg or EvalConfig(), gate_cfg or GateConfig()
    gold = load_golden(golden)
    scorers, settings = scorers_from_config(eval_cfg), settings_from_config(eval_cfg)
    runs = [
        run_eval(gold, v, scorers, settings, cache=eval_cfg.cache, progress=progress)
        for v in (base, candidate)
    ]
    alt_runs = [
        a if isinstance(a, RunResult)
        else run_eval(gold, a, scorers, settings, cache=eval_cfg.cache, progress=progress)
        for a in alternatives or []
    ]  # fmt: skip
    suite = forgetting_suite(eval_cfg.forgetting_suite)
    forgetting = (
        run_suite(
            suite,
            (base, candidate),
            settings,
            max_new_tokens=eval_cfg.forgetting_max_new_tokens,
            cache=eval_cfg.cache,
            progress=progress,
        )
        if suite is not None
        else None
    )
    report = compare_runs(
        runs[0], runs[1], eval_cfg=eval_cfg, gate_cfg=gate_cfg, forgetting=forgetting,
        curve=read_curve(curve if curve is not None else candidate.adapter), alternatives=alt_runs,
    )  # fmt: skip
    if out is not None:
        write_report(report, out, runs[0], runs[1])
    return report
