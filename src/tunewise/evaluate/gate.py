"""The release gate: rules over a comparison report, each with its outcome, and one decision.

Rules (thresholds in `GateConfig`):
- primary_lift: the primary metric lifts by >= min_lift with the CI lower bound > 0, or, when a
  non-inferiority margin is configured, the CI lower bound is above -margin;
- bucket_drop: no bucket's primary metric drops by more than max_bucket_drop;
- safety: zero tolerance, no case in a safety bucket scores lower than the base;
- latency: p95 latency no more than max_p95_latency_increase worse, unless accuracy gained;
- json_valid: the JSON-valid rate does not fall below the base's;
- beats_alternative: the candidate beats the best non-fine-tuned alternative besides the base
  (prompts, the embedding classifier) on the primary metric with the CI lower bound above
  alternative_margin;
- forgetting: on the general-capability suite, a drop that is both significant (CI entirely below
  0) and larger than max_forgetting_drop fires; a CI that cannot rule such a drop out warns.
The candidate is accepted when no rule blocks.
"""

from __future__ import annotations

from typing import Any

from .config import GateConfig
from .runner import RunResult


def _rule(name: str, status: str, detail: str, **values: Any) -> dict[str, Any]:
    return {"rule": name, "status": status, "detail": detail, "values": values}


def primary_lift(report: dict[str, Any], cfg: GateConfig) -> dict[str, Any]:
    m = report["metrics"][report["primary_metric"]]
    delta, low, high = m["delta"], m["ci"]["low"], m["ci"]["high"]
    ci = f"{100 * delta:+.1f} pts, {100 * cfg.confidence:.0f}% CI [{100 * low:+.1f}, {100 * high:+.1f}]"
    if delta >= cfg.min_lift and low > 0:
        return _rule(
            "primary_lift",
            "pass",
            f"lift {ci} >= {100 * cfg.min_lift:.1f} pts with CI above 0",
            delta=delta,
            ci_low=low,
        )
    margin = cfg.non_inferiority_margin
    if margin is not None and low > -margin:
        return _rule(
            "primary_lift",
            "pass",
            f"non-inferior: {ci}, CI above -{100 * margin:.1f} pts",
            delta=delta,
            ci_low=low,
        )
    need = f"a lift of >= {100 * cfg.min_lift:.1f} pts with CI above 0"
    if margin is not None:
        need += f", or CI above -{100 * margin:.1f} pts"
    return _rule("primary_lift", "block", f"{ci}; needs {need}", delta=delta, ci_low=low)


def _is_safety(tag: str, cfg: GateConfig) -> bool:
    return any(tag.startswith(s) if s.endswith(":") else tag == s for s in cfg.safety_tags)


def bucket_drop(report: dict[str, Any], cfg: GateConfig) -> dict[str, Any]:
    gated = {
        t: b
        for t, b in report["buckets"].items()
        if b["n"] >= cfg.min_bucket_size and not _is_safety(t, cfg)
    }
    if not gated:
        return _rule("bucket_drop", "skip", "no tagged buckets")
    dropped = {t: b["delta"] for t, b in gated.items() if b["delta"] < -cfg.max_bucket_drop}
    if dropped:
        listing = ", ".join(
            f"{t} {100 * d:+.1f}" for t, d in sorted(dropped.items(), key=lambda x: x[1])[:10]
        )
        return _rule(
            "bucket_drop",
            "block",
            f"buckets dropping > {100 * cfg.max_bucket_drop:.0f} pts: {listing}",
            buckets=dropped,
        )
    worst = min(gated.items(), key=lambda x: x[1]["delta"])
    return _rule(
        "bucket_drop",
        "pass",
        f"worst bucket {worst[0]} {100 * worst[1]['delta']:+.1f} pts",
        buckets={},
    )


def safety(
    report: dict[str, Any], cfg: GateConfig, base: RunResult, cand: RunResult
) -> dict[str, Any]:
    metrics = [report["primary_metric"] if m == "primary" else m for m in cfg.safety_metrics]
    metrics = [m for m in dict.fromkeys(metrics) if m in base.metrics() and m in cand.metrics()]
    by_id = {c.id: c for c in cand.cases}
    cases = [b for b in base.cases if any(_is_safety(t, cfg) for t in b.tags)]
    if not cases:
        return _rule("safety", "skip", f"no cases tagged {', '.join(cfg.safety_tags)}")
    worse = sorted({b.id for b in cases for m in metrics if by_id[b.id].scores[m] < b.scores[m]})
    if worse:
        return _rule(
            "safety",
            "block",
            f"{len(worse)} safety case(s) regressed (zero tolerance): {', '.join(worse[:10])}",
            cases=worse,
        )
    return _rule(
        "safety",
        "pass",
        f"{len(cases)} safety case(s), none worse on {', '.join(metrics)}",
        cases=[],
    )


def latency(report: dict[str, Any], cfg: GateConfig, gained: bool) -> dict[str, Any]:
    b, c = report["base"]["latency_s"]["p95"], report["candidate"]["latency_s"]["p95"]
    if b <= 0:
        return _rule("latency", "skip", "no base latency measured")
    change = c / b - 1
    text = f"p95 {b * 1000:.0f} ms -> {c * 1000:.0f} ms ({100 * change:+.0f}%)"
    if change > cfg.max_p95_latency_increase and not gained:
        return _rule("latency", "block", f"{text} without an accuracy gain", change=change)
    return _rule(
        "latency",
        "pass",
        text + (" (accuracy gained)" if change > cfg.max_p95_latency_increase else ""),
        change=change,
    )


def json_valid(report: dict[str, Any], cfg: GateConfig) -> dict[str, Any]:
    m = report["metrics"].get("json_valid")
    if m is None:
        return _rule("json_valid", "skip", "json_valid not scored")
    text = f"JSON-valid {100 * m['base']:.1f}% -> {100 * m['candidate']:.1f}%"
    if m["candidate"] < m["base"] - cfg.json_valid_tolerance - 1e-12:
        return _rule(
            "json_valid",
            "block",
            text + " (below the base)",
            base=m["base"],
            candidate=m["candidate"],
        )
    return _rule("json_valid", "pass", text, base=m["base"], candidate=m["candidate"])


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def beats_alternative(report: dict[str, Any], cfg: GateConfig) -> dict[str, Any]:
    alts, margin = report.get("alternatives"), cfg.alternative_margin
    if margin is None:
        return _rule("beats_alternative", "skip", "turned off (gate.alternative_margin: null)")
    if not alts:
        return _rule("beats_alternative", "skip", "no alternative besides the base evaluated")
    best = alts["rows"][0]
    ci = best["ci"]
    text = (
        f"vs best alternative '{best['label']}' ({100 * best['alternative']:.1f}%): "
        f"{_pts(best['delta'])} pts, {100 * cfg.confidence:.0f}% CI [{_pts(ci['low'])}, {_pts(ci['high'])}]"
    )
    values = {"alternative": best["label"], "delta": best["delta"], "ci_low": ci["low"]}
    if ci["low"] > margin:
        return _rule("beats_alternative", "pass", f"{text} above {_pts(margin)}", **values)
    return _rule(
        "beats_alternative",
        "block",
        f"{text}; needs the CI above {_pts(margin)} pts: ship the cheaper variant instead",
        **values,
    )


def forgetting(report: dict[str, Any], cfg: GateConfig) -> dict[str, Any]:
    f = report.get("forgetting")
    if not f:
        return _rule("forgetting", "skip", "no general-capability suite run")
    ci, limit = f["ci"], cfg.max_forgetting_drop
    text = (
        f"general suite ({f['n']} cases) {100 * f['base']:.1f}% -> {100 * f['candidate']:.1f}% "
        f"({_pts(f['delta'])} pts, {100 * cfg.confidence:.0f}% CI [{_pts(ci['low'])}, {_pts(ci['high'])}])"
    )
    values = {"delta": f["delta"], "ci_low": ci["low"], "ci_high": ci["high"]}
    if ci["high"] < 0 and f["delta"] < -limit:
        return _rule(
            "forgetting",
            cfg.forgetting_action,
            f"{text}: a significant drop of more than {100 * limit:.0f} pts",
            **values,
        )
    if ci["low"] < -limit:
        return _rule(
            "forgetting",
            "warn",
            f"{text}: a drop of more than {100 * limit:.0f} pts is not ruled out",
            **values,
        )
    return _rule("forgetting", "pass", f"{text}: no drop beyond {100 * limit:.0f} pts", **values)


def apply_gate(
    report: dict[str, Any], cfg: GateConfig, base: RunResult, cand: RunResult
) -> dict[str, Any]:
    """Every rule's outcome and the decision: accept when no rule blocks."""
    lift = primary_lift(report, cfg)
    gained = lift["values"]["delta"] >= cfg.min_lift and lift["values"]["ci_low"] > 0
    rules = [
        lift,
        bucket_drop(report, cfg),
        safety(report, cfg, base, cand),
        latency(report, cfg, gained),
        json_valid(report, cfg),
        beats_alternative(report, cfg),
        forgetting(report, cfg),
    ]
    blocked = [r["rule"] for r in rules if r["status"] == "block"]
    return {"decision": "block" if blocked else "accept", "blocked_by": blocked, "rules": rules}
