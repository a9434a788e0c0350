"""The evaluate stage's two entry points, one per CLI verb.

- `evaluate_variant`: one variant on a golden set, scored; optionally written to a folder.
- `compare_variants`: base and candidate on the same golden set (and the general-capability suite),
  paired statistics, the gate decision and the three reports. The caller decides what a blocked
  gate means (the CLI raises GateBlocked so CI fails).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_json, atomic_write_jsonl

from .backends import Settings
from .config import EvalConfig, GateConfig
from .golden import GoldenSet, load_golden
from .runner import RunResult, run_eval
from .scorers import Scorer, build_scorer
from .variants import PromptStrategy, Variant


def scorers_from_config(cfg: EvalConfig) -> list[Scorer]:
    """The configured scorers, built once."""
    return [build_scorer(s.name, s.params) for s in cfg.scorers]


def settings_from_config(cfg: EvalConfig) -> Settings:
    return Settings(
        max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, concurrency=cfg.concurrency
    )


def forgetting_suite(spec: str | None) -> GoldenSet | None:
    """The general-capability suite: 'builtin' (shipped with tunewise), a JSONL path, or None."""
    if not spec:
        return None
    if spec == "builtin":
        with resources.as_file(
            resources.files("tunewise.evaluate").joinpath("general_suite.jsonl")
        ) as path:
            return load_golden(path)
    return load_golden(spec)


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
        }
        atomic_write_json(out / "eval.json", summary)
        atomic_write_jsonl(out / "results.jsonl", [c.__dict__ for c in run.cases])
    return run


def compare_variants(
    golden: str | Path,
    base: Variant,
    candidate: Variant,
    *,
    eval_cfg: EvalConfig | None = None,
    gate_cfg: GateConfig | None = None,
    out: str | Path | None = None,
    curve: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate both variants, compare them, apply the gate; with `out`, write report.json/md/html.

    `curve` is a training curve JSON or an adapter folder holding one (defaults to the candidate's
    adapter folder); a missing curve just leaves the chart out.
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
    forgetting = None
    suite = forgetting_suite(eval_cfg.forgetting_suite)
    if suite is not None:
        contains = [build_scorer("contains")]
        zero_shot = [v.model_copy(update={"prompt": PromptStrategy()}) for v in (base, candidate)]
        b, c = (
            run_eval(suite, v, contains, settings, cache=eval_cfg.cache, progress=progress)
            for v in zero_shot
        )
        forgetting = (b, c)
    report = compare_runs(
        runs[0], runs[1], eval_cfg=eval_cfg, gate_cfg=gate_cfg, forgetting=forgetting,
        curve=read_curve(curve if curve is not None else candidate.adapter),
    )  # fmt: skip
    if out is not None:
        write_report(report, out, runs[0], runs[1])
    return report
