"""The forgetting check: the general-capability suite run zero-shot on base and candidate, compared
with paired statistics.

The bundled suite (`general_suite.jsonl`, 125 cases written for tunewise) covers arithmetic, short
facts, instructions, formatting, refusals of harmful requests and over-refusal of safe ones; every
case says in `expected` how its answer is checked (the `check` scorer). Its answers get their own
token budget (`eval.forgetting_max_new_tokens`), so a feature's short `eval.max_new_tokens` does
not cut them off.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from typing import Any

from .backends import Settings
from .golden import GoldenSet, load_golden
from .runner import RunResult, run_eval
from .scorers import build_scorer
from .stats import mcnemar_exact, paired_bootstrap
from .variants import PromptStrategy, Variant


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


def applies(variant: Variant) -> bool:
    """A classifier answers only its labels: general capability is not something it has to keep."""
    return variant.kind != "classifier"


def run_suite(
    suite: GoldenSet,
    variants: tuple[Variant, Variant],
    settings: Settings,
    *,
    max_new_tokens: int = 48,
    cache: bool = True,
    progress: bool = True,
) -> tuple[RunResult, RunResult] | None:
    """Both sides on the suite, zero-shot, scored by `check`; None when it does not apply."""
    if not all(applies(v) for v in variants):
        return None
    suite_settings = replace(settings, max_new_tokens=max_new_tokens)
    check = [build_scorer("check")]
    base, cand = (
        run_eval(suite, v.model_copy(update={"prompt": PromptStrategy()}), check, suite_settings,
                 cache=cache, progress=progress)
        for v in variants
    )  # fmt: skip
    return base, cand


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def forgetting_summary(
    base: RunResult, cand: RunResult, *, samples: int, confidence: float, seed: int
) -> dict[str, Any]:
    """The suite's score per side, the paired CI of the change, McNemar, and per-category figures."""
    from .compare import bucket_stats, check_pairing

    check_pairing(base, cand)
    metric = base.metrics()[0]
    by_id = {c.id: c for c in cand.cases}
    cand = replace(cand, cases=[by_id[c.id] for c in base.cases])
    b, c = base.scores(metric), cand.scores(metric)
    ci = paired_bootstrap(b, c, samples=samples, confidence=confidence, seed=seed)
    return {
        "metric": metric, "n": len(b), "base": _mean(b), "candidate": _mean(c), "delta": _mean(c) - _mean(b),
        "ci": ci.to_json(), "mcnemar": mcnemar_exact(b, c).to_json(), "golden_hash": base.golden_hash,
        "buckets": bucket_stats(base, cand, metric),
        "cases": [{"id": x.id, "tags": x.tags, "base_output": x.output, "candidate_output": y.output,
                   "base": x.scores[metric], "candidate": y.scores[metric]}
                  for x, y in zip(base.cases, cand.cases, strict=True)],
    }  # fmt: skip
