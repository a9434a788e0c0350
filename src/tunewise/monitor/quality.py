"""Live quality: the evaluate stage's reference-free scorers on sampled answers, per arm and day,
against the values in the model's eval report.

Scores the gateway already logged with a row (`scores`) are used as they are; missing ones are
computed from the sampled answer. `refusal` here is scored against an empty reference, so it is 1
when the answer does not refuse: the same figure the eval report gives on a golden set whose
references never refuse.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from tunewise.evaluate.golden import Case
from tunewise.evaluate.scorers import Scorer, build_scorer, parse_json
from tunewise.monitor.requests import Request

Z95 = 1.96
MIN_COMPARE = 30


def live_scorers(train_answers: list[str], schema: dict[str, Any] | str | None) -> list[Scorer]:
    """JSON checks when training answers are JSON (schema when one is configured), then refusal
    and hallucination markers."""
    names: list[tuple[str, dict[str, Any]]] = []
    parsed = 0
    for a in train_answers:
        try:
            parse_json(a)
            parsed += 1
        except ValueError:
            pass
    if train_answers and parsed >= 0.8 * len(train_answers):
        names.append(("json_valid", {}))
        if schema:
            names.append(("json_schema", {"schema": schema}))
    names += [("refusal", {}), ("hallucination", {})]
    return [build_scorer(n, p) for n, p in names]


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


class _Bucket:
    def __init__(self) -> None:
        self.n = self.errors = 0
        self.latency: list[float] = []
        self.tokens_out: list[int] = []
        self.scores: dict[str, list[float]] = defaultdict(list)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.n,
            "error_rate": self.errors / self.n if self.n else None,
            "latency_ms": {"p50": _percentile(self.latency, 50), "p95": _percentile(self.latency, 95)},
            "tokens_out_mean": sum(self.tokens_out) / len(self.tokens_out) if self.tokens_out else None,
            "metrics": {m: {"mean": sum(v) / len(v), "n": len(v)} for m, v in sorted(self.scores.items())},
        }  # fmt: skip


def _row_scores(req: Request, scorers: list[Scorer]) -> dict[str, float]:
    out = dict(req.scores)
    if req.answer is not None and req.ok:
        case = Case(id=req.request_id or "", messages=[{"role": "user", "content": req.prompt or ""}], expected="")  # fmt: skip
        for s in scorers:
            if s.name not in out:
                out[s.name] = s(req.answer, case).value
    return out


def live_quality(
    requests: Iterable[Request], scorers: list[Scorer], model: str | None
) -> dict[str, Any]:
    """Per arm, per (arm, day), and for the monitored model's own rows."""
    arms: dict[str, _Bucket] = defaultdict(_Bucket)
    days: dict[tuple[str, str], _Bucket] = defaultdict(_Bucket)
    own, control = _Bucket(), _Bucket()
    for req in requests:
        scores = _row_scores(req, scorers) if req.ok else {}
        named = model is not None and req.model == model
        for b in (arms[req.arm], days[(req.arm, req.day)], *((own,) if named else ()),
                  *((control,) if req.arm == "control" else ())):  # fmt: skip
            b.n += 1
            b.errors += not req.ok
            if req.latency_ms is not None:
                b.latency.append(req.latency_ms)
            if req.tokens_out is not None:
                b.tokens_out.append(req.tokens_out)
            for m, v in scores.items():
                b.scores[m].append(v)
    return {
        "arms": {a: b.summary() for a, b in sorted(arms.items())},
        "days": [{"arm": a, "day": d, **b.summary()} for (a, d), b in sorted(days.items())],
        "model_rows": (own if own.n else control).summary(),
        "model_rows_from": "model" if own.n else "control arm",
    }


def compare_with_eval(
    live: dict[str, Any], eval_metrics: dict[str, float], margin: float
) -> list[dict[str, Any]]:
    """Each live metric that the eval report also has: eval value, live mean with a 95% interval,
    and `below` when live is under eval by more than `margin` and the interval excludes eval."""
    out = []
    for m, v in live["metrics"].items():
        if m not in eval_metrics or eval_metrics[m] is None:
            continue
        mean, n, ref = v["mean"], v["n"], float(eval_metrics[m])
        half = Z95 * math.sqrt(max(mean * (1 - mean), 1e-12) / n) if n else float("inf")
        below = n >= MIN_COMPARE and ref - mean > margin and mean + half < ref
        out.append({"metric": m, "eval": ref, "live": mean, "n": n, "ci": [max(0.0, mean - half), min(1.0, mean + half)],
                    "drop": ref - mean, "below": bool(below)})  # fmt: skip
    return out
