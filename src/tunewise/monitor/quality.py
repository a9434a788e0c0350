"""Live quality: the evaluate stage's reference-free scorers on sampled answers, per arm and day,
against the values in the model's eval report; and, on the rows someone reviewed (a `review.answer`
in the log, or `tunewise monitor --reviewed FILE`), the eval's primary metric against that answer.

Scores the gateway already logged with a row (`scores`) are used as they are; missing ones are
computed from the sampled answer. `refusal` here is scored against an empty reference, so it is 1
when the answer does not refuse: the same figure the eval report gives on a golden set whose
references never refuse.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from tunewise.evaluate.golden import Case
from tunewise.evaluate.scorers import Scorer, build_scorer, parse_json
from tunewise.monitor.requests import Request

Z95 = 1.96
MIN_COMPARE = 30
LIVE = ("json_valid", "json_schema", "refusal", "hallucination")
"""The reference-free scorers live traffic is scored with (live_scorers picks among them)."""


def live_scorers(train_answers: list[str], schema: dict[str, Any] | str | None) -> list[Scorer]:
    """JSON checks when training answers are JSON (schema when one is configured), then refusal
    and hallucination markers."""
    json_valid, json_schema, refusal, hallucination = LIVE
    names: list[tuple[str, dict[str, Any]]] = []
    parsed = 0
    for a in train_answers:
        try:
            parse_json(a)
            parsed += 1
        except ValueError:
            pass
    if train_answers and parsed >= 0.8 * len(train_answers):
        names.append((json_valid, {}))
        if schema:
            names.append((json_schema, {"schema": schema}))
    names += [(refusal, {}), (hallucination, {})]
    return [build_scorer(n, p) for n, p in names]


class Quantiles:
    """Nearest-rank quantiles in bounded memory: exact over the first `exact` values, then a
    log-bucket sketch with 1% relative error (DDSketch's mapping: bucket i holds values in
    (gamma^(i-1), gamma^i], gamma = 1.01/0.99), at most a few hundred buckets for latencies."""

    GAMMA = 1.01 / 0.99

    def __init__(self, exact: int = 2048) -> None:
        self.exact = exact
        self.values: list[float] | None = []
        self.buckets: dict[int, int] = {}
        self.n = 0

    def add(self, x: float) -> None:
        self.n += 1
        if self.values is not None:
            self.values.append(x)
            if len(self.values) > self.exact:
                for v in self.values:
                    self._bucket(v)
                self.values = None
        else:
            self._bucket(x)

    def _bucket(self, x: float) -> None:
        i = math.ceil(math.log(x) / math.log(self.GAMMA)) if x > 0 else -(10**9)
        self.buckets[i] = self.buckets.get(i, 0) + 1

    def quantile(self, q: float) -> float | None:
        if not self.n:
            return None
        rank = min(self.n, max(1, math.ceil(q / 100 * self.n)))
        if self.values is not None:
            return sorted(self.values)[rank - 1]
        seen = 0
        for i in sorted(self.buckets):
            seen += self.buckets[i]
            if seen >= rank:
                return 0.0 if i == -(10**9) else 2 * self.GAMMA**i / (self.GAMMA + 1)
        return None  # pragma: no cover - rank <= n


class Bucket:
    """Running figures of one group of requests (an arm, an arm's day, the model's rows)."""

    def __init__(self) -> None:
        self.n = self.errors = self.tokens_n = self.tokens_sum = 0
        self.latency = Quantiles()
        self.scores: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])

    def add(self, req: Request, scores: dict[str, float]) -> None:
        self.n += 1
        self.errors += not req.ok
        if req.latency_ms is not None:
            self.latency.add(req.latency_ms)
        if req.tokens_out is not None:
            self.tokens_n += 1
            self.tokens_sum += req.tokens_out
        for m, v in scores.items():
            acc = self.scores[m]
            acc[0] += v
            acc[1] += 1

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.n,
            "error_rate": self.errors / self.n if self.n else None,
            "latency_ms": {"p50": self.latency.quantile(50), "p95": self.latency.quantile(95)},
            "tokens_out_mean": self.tokens_sum / self.tokens_n if self.tokens_n else None,
            "metrics": {m: {"mean": s / int(n), "n": int(n)} for m, (s, n) in sorted(self.scores.items())},
        }  # fmt: skip


def _row_scores(
    req: Request, scorers: list[Scorer], reference: Sequence[Scorer] = ()
) -> dict[str, float]:
    out = dict(req.scores)
    if req.answer is not None and req.ok:
        case = Case(id=req.request_id or "", messages=[{"role": "user", "content": req.prompt or ""}], expected="")  # fmt: skip
        for s in scorers:
            if s.name not in out:
                out[s.name] = s(req.answer, case).value
        expected = reviewed_answer(req)
        if expected is not None:
            case = Case(id=case.id, messages=case.messages, expected=expected)
            for s in reference:
                out[s.name] = s(req.answer, case).value
    return out


def reviewed_answer(req: Request) -> Any:
    """The reviewed right answer of a row (a JSON object stays one, as in golden sets), or None."""
    answer = req.review.get("answer") if isinstance(req.review, dict) else None
    if isinstance(answer, dict):
        return answer
    if not isinstance(answer, str) or not answer.strip():
        return None
    try:
        parsed = parse_json(answer)
    except ValueError:
        return answer
    return parsed if isinstance(parsed, dict) else answer


class LiveQuality:
    """Live quality over a stream of requests: `add` each, then `summary()`."""

    def __init__(
        self, scorers: list[Scorer], model: str | None, reference: list[Scorer] | None = None
    ) -> None:
        """`reference`: scorers that need the right answer (the eval's primary metric), applied to
        the rows someone reviewed: the only live figure that sees wrong-but-valid answers."""
        self.scorers, self.model, self.reference = scorers, model, list(reference or [])
        self.arms: dict[str, Bucket] = defaultdict(Bucket)
        self.days: dict[tuple[str, str], Bucket] = defaultdict(Bucket)
        self.own, self.control = Bucket(), Bucket()

    def add(self, req: Request) -> None:
        scores = _row_scores(req, self.scorers, self.reference) if req.ok else {}
        self.arms[req.arm].add(req, scores)
        self.days[(req.arm, req.day)].add(req, scores)
        if self.model is not None and req.model == self.model:
            self.own.add(req, scores)
        if req.arm == "control":
            self.control.add(req, scores)

    def summary(self) -> dict[str, Any]:
        """Per arm, per (arm, day), and for the monitored model's own rows (else control's)."""
        return {
            "arms": {a: b.summary() for a, b in sorted(self.arms.items())},
            "days": [
                {"arm": a, "day": d, **b.summary()} for (a, d), b in sorted(self.days.items())
            ],
            "model_rows": (self.own if self.own.n else self.control).summary(),
            "model_rows_from": "model" if self.own.n else "control arm",
        }


def live_quality(
    requests: Iterable[Request], scorers: list[Scorer], model: str | None
) -> dict[str, Any]:
    """Per arm, per (arm, day), and for the monitored model's own rows."""
    live = LiveQuality(scorers, model)
    for req in requests:
        live.add(req)
    return live.summary()


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
