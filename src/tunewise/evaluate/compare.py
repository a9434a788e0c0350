"""Base vs candidate on the same golden cases: deltas, paired statistics, buckets, regressions.

`compare_runs` builds the report dictionary that `gate.apply_gate` rules on and `report.py` renders.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from tunewise import __version__
from tunewise.errors import DataError

from .config import EvalConfig, GateConfig
from .runner import RunResult
from .scorers import parse_json
from .stats import mcnemar_exact, paired_bootstrap, percentile

_HIST_BINS = 10


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def check_pairing(base: RunResult, cand: RunResult) -> None:
    """Both sides must cover the same golden set and the same case ids."""
    b, c = [x.id for x in base.cases], [x.id for x in cand.cases]
    if set(b) != set(c) or len(b) != len(c):
        only_b, only_c = sorted(set(b) - set(c))[:5], sorted(set(c) - set(b))[:5]
        raise DataError(
            f"base and candidate cover different cases (only in base: {only_b}, only in candidate: {only_c}); "
            "evaluate both on the same golden set"
        )
    if base.golden_hash != cand.golden_hash:
        raise DataError(
            f"golden set hashes differ ({base.golden_hash[:12]} vs {cand.golden_hash[:12]})"
        )


def side_summary(run: RunResult) -> dict[str, Any]:
    """Per-side figures: metric means, latency percentiles, tokens and cost per 1,000 requests."""
    lat = [c.latency_s for c in run.cases]
    return {
        "label": run.label,
        "variant": run.variant,
        "identity": run.identity,
        "settings": run.settings,
        "metrics": run.means(),
        "latency_s": {"p50": percentile(lat, 50), "p95": percentile(lat, 95), "mean": _mean(lat)},
        "tokens": {
            "in_mean": _mean([c.tokens_in for c in run.cases]),
            "out_mean": _mean([c.tokens_out for c in run.cases]),
        },
        "cost_per_1k_usd": 1000 * _mean([c.cost_usd for c in run.cases]),
        "errors": sum(1 for c in run.cases if c.error),
        "cache_hits": run.cache_hits,
        "wall_s": run.wall_s,
    }


def metric_stats(
    base: RunResult, cand: RunResult, *, samples: int, confidence: float, seed: int
) -> dict[str, Any]:
    """Mean per side, the paired bootstrap CI of the difference, and McNemar for binary metrics."""
    out = {}
    for m in base.metrics():
        if m not in cand.metrics():
            continue
        b, c = base.scores(m), cand.scores(m)
        ci = paired_bootstrap(b, c, samples=samples, confidence=confidence, seed=seed)
        binary = m in base.binary_metrics and m in cand.binary_metrics
        out[m] = {
            "base": _mean(b),
            "candidate": _mean(c),
            "delta": _mean(c) - _mean(b),
            "ci": ci.to_json(),
            "binary": binary,
            "mcnemar": mcnemar_exact(b, c).to_json() if binary else None,
        }
    return out


def bucket_stats(base: RunResult, cand: RunResult, metric: str) -> dict[str, Any]:
    """The metric per tag bucket on both sides (cases carry several tags, so buckets overlap)."""
    by_id = {c.id: c for c in cand.cases}
    groups: dict[str, list[tuple[float, float]]] = {}
    for case in base.cases:
        for tag in case.tags:
            groups.setdefault(tag, []).append((case.scores[metric], by_id[case.id].scores[metric]))
    return {
        tag: {"n": len(p), "base": _mean([x for x, _ in p]), "candidate": _mean([y for _, y in p]),
              "delta": _mean([y for _, y in p]) - _mean([x for x, _ in p])}
        for tag, p in sorted(groups.items())
    }  # fmt: skip


def regressions(base: RunResult, cand: RunResult, metric: str) -> list[dict[str, Any]]:
    """Cases where the candidate scored lower than the base on the metric, largest drop first."""
    by_id = {c.id: c for c in cand.cases}
    rows = []
    for b in base.cases:
        c = by_id[b.id]
        if c.scores[metric] < b.scores[metric]:
            rows.append({
                "id": b.id, "tags": b.tags, "expected": b.expected,
                "base_score": b.scores[metric], "candidate_score": c.scores[metric],
                "base_output": b.output, "candidate_output": c.output,
                "candidate_reason": c.reasons.get(metric, ""),
            })  # fmt: skip
    return sorted(rows, key=lambda r: (r["candidate_score"] - r["base_score"], r["id"]))


def _label(value: Any, field: str) -> str:
    if isinstance(value, str):
        try:
            value = parse_json(value)
        except ValueError:
            return "(invalid)"
    if isinstance(value, dict) and field in value:
        return str(value[field])
    return "(invalid)"


def confusion(base: RunResult, cand: RunResult, field: str | None) -> dict[str, Any] | None:
    """Confusion matrices (rows: expected label, columns: predicted) when `expected` carries the field."""
    if not field:
        return None
    truth = [_label(c.expected, field) for c in base.cases]
    if sum(t != "(invalid)" for t in truth) < max(2, len(truth) // 2):
        return None
    labels = sorted({t for t in truth if t != "(invalid)"})
    known = set(labels)

    def matrix(run: RunResult) -> list[list[int]]:
        cols = [*labels, "(other)", "(invalid)"]
        counts: Counter[tuple[str, str]] = Counter()
        for t, case in zip(truth, run.cases, strict=True):
            p = _label(case.output, field)
            counts[(t, p if p in known or p == "(invalid)" else "(other)")] += 1
        return [[counts[(t, p)] for p in cols] for t in labels]

    return {"field": field, "labels": labels, "columns": [*labels, "(other)", "(invalid)"],
            "base": matrix(base), "candidate": matrix(cand)}  # fmt: skip


def distributions(base: RunResult, cand: RunResult) -> dict[str, Any]:
    """Histograms (10 bins over [0, 1]) of every metric's per-case scores, per side."""

    def hist(values: list[float]) -> list[int]:
        bins = [0] * _HIST_BINS
        for v in values:
            bins[min(_HIST_BINS - 1, int(v * _HIST_BINS))] += 1
        return bins

    return {
        m: {"base": hist(base.scores(m)), "candidate": hist(cand.scores(m))}
        for m in base.metrics()
        if m in cand.metrics()
    }


def alternatives_summary(
    cand: RunResult,
    alternatives: list[RunResult],
    metric: str,
    *,
    samples: int,
    confidence: float,
    seed: int,
) -> dict[str, Any] | None:
    """The candidate against each non-fine-tuned alternative on the primary metric, best first.

    `delta` and `ci` are candidate minus alternative; alternatives identical to the candidate
    (same identity and prompt) are left out.
    """
    rows: list[dict[str, Any]] = []
    for alt in alternatives:
        if alt.identity == cand.identity and alt.variant.get("prompt") == cand.variant.get(
            "prompt"
        ):
            continue
        check_pairing(alt, cand)
        by_id = {c.id: c for c in cand.cases}
        a, c = alt.scores(metric), [by_id[x.id].scores[metric] for x in alt.cases]
        binary = metric in alt.binary_metrics and metric in cand.binary_metrics
        rows.append({
            "label": alt.label, "kind": alt.variant.get("kind"), "identity": alt.identity,
            "alternative": _mean(a), "candidate": _mean(c), "delta": _mean(c) - _mean(a),
            "ci": paired_bootstrap(a, c, samples=samples, confidence=confidence, seed=seed).to_json(),
            "mcnemar": mcnemar_exact(a, c).to_json() if binary else None,
        })  # fmt: skip
    if not rows:
        return None
    rows.sort(key=lambda r: -float(r["alternative"]))
    return {"metric": metric, "best": rows[0]["label"], "rows": rows}


def forgetting_summary(
    base: RunResult, cand: RunResult, *, samples: int, confidence: float, seed: int
) -> dict[str, Any]:
    """The suite's score per side, the paired CI of the change, McNemar, and per-category figures."""
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


def compare_runs(
    base: RunResult,
    cand: RunResult,
    *,
    eval_cfg: EvalConfig | None = None,
    gate_cfg: GateConfig | None = None,
    forgetting: tuple[RunResult, RunResult] | None = None,
    curve: dict[str, Any] | None = None,
    alternatives: list[RunResult] | None = None,
) -> dict[str, Any]:
    """The full comparison report (gate decision included) as a JSON-ready dictionary.

    `alternatives` are the other non-fine-tuned variants evaluated on the same golden set
    (prompts, the embedding classifier); the base is judged by the primary_lift rule.
    """
    from .gate import apply_gate

    eval_cfg, gate_cfg = eval_cfg or EvalConfig(), gate_cfg or GateConfig()
    check_pairing(base, cand)
    # Align the candidate's cases to the base's order so every per-case list pairs up.
    order = {cid: i for i, cid in enumerate(c.id for c in base.cases)}
    cand = replace(cand, cases=sorted(cand.cases, key=lambda c: order[c.id]))
    primary = eval_cfg.primary_metric
    if primary not in base.metrics():
        raise DataError(f"primary metric '{primary}' was not scored; add it to eval.scorers")
    stats: dict[str, Any] = {
        "samples": eval_cfg.bootstrap_samples,
        "confidence": gate_cfg.confidence,
        "seed": eval_cfg.seed,
    }
    report: dict[str, Any] = {
        "tunewise_version": __version__,
        "golden": {"path": base.golden_path, "hash": base.golden_hash, "cases": len(base.cases)},
        "primary_metric": primary,
        "base": side_summary(base),
        "candidate": side_summary(cand),
        "metrics": metric_stats(base, cand, **stats),
        "buckets": bucket_stats(base, cand, primary),
        "regressions": regressions(base, cand, primary),
        "confusion": confusion(base, cand, eval_cfg.label_field),
        "distributions": distributions(base, cand),
        "alternatives": alternatives_summary(cand, alternatives or [], primary, **stats),
        "forgetting": forgetting_summary(*forgetting, **stats) if forgetting else None,
        "training_curve": curve,
        "gate_config": gate_cfg.model_dump(),
        "scorers": [s.model_dump() for s in eval_cfg.scorers],
    }
    report["gate"] = apply_gate(report, gate_cfg, base, cand)
    return report
