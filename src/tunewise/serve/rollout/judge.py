"""Judging a step: canary against control on each metric, with confidence sequences.

Metrics (each has a margin in `rollout.margins`: how much worse the canary may be):
- `error_rate`: share of requests that failed (5xx, 429, timeouts; a canary failure that fell
  back to control counts against the canary); higher is worse.
- `slow_share`: share of successful requests slower than control's p95 latency in the same
  window (about 0.05 on control by construction); higher is worse. A confidence sequence on an
  indicator is simpler and sturdier than one on the quantile itself.
- the reference-free scores the gateway logs per answer (serve/scores.py): `json_valid`,
  `json_schema` (when the project has an output schema), `refusal` and
  `hallucination_marker` (1 = present), and `chars` (answer length; a change of more than the
  margin times control's mean, either way, fails);
- user feedback: `rating` (0 bad .. 1 good; lower is worse) and `bad_outcome` (share of
  labelled answers whose outcome is in `rollout.bad_outcomes`);
- `judge`: the LLM judge's score (0..1, the evaluate stage's scale) of a sample of each arm's
  answers (livejudge.py), only when the rollout has a judge; lower is worse. Unlike feedback,
  which counts when enough arrives, a configured judge must have `min_samples` scores on each
  arm before a step can pass: too few holds the step.

A metric fails only when its confidence sequence lies beyond the margin on the harmful side (a
one-sided sequence; both sides for the answer length), and only with at least `min_samples`
observations on each side: missing data never fails a canary. The false-alarm budget `alpha` is split evenly over the rollout's stages and metrics
(Bonferroni), so a canary as good as control is rolled back with probability at most about alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunewise.serve.rollout.sequential import Interval, Moments, diff_cs, mean_cs

HIGHER_IS_WORSE = {"error_rate", "slow_share", "refusal", "hallucination_marker", "bad_outcome"}
LOWER_IS_WORSE = {"json_valid", "json_schema", "rating", "judge"}
SCORES = ("json_valid", "json_schema", "refusal", "hallucination_marker", "chars", "judge")
REQUIRED = {"judge"}
"""Metrics that must have data on both arms before a step passes (when judged at all)."""
FEEDBACK = ("rating", "bad_outcome")
SLOW_QUANTILE = 95.0


def _empty() -> np.ndarray:
    return np.zeros(0)


@dataclass
class ArmSample:
    """What one arm served in a window."""

    errors: np.ndarray = field(default_factory=_empty)
    """0/1 per counted request."""
    latency: np.ndarray = field(default_factory=_empty)
    """Milliseconds, successful requests."""
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    rating: np.ndarray = field(default_factory=_empty)
    bad_outcome: np.ndarray = field(default_factory=_empty)

    @property
    def requests(self) -> int:
        return int(self.errors.size)

    def values(self, metric: str, slow_ms: float | None) -> np.ndarray:
        if metric == "error_rate":
            return self.errors
        if metric == "slow_share":
            if slow_ms is None:
                return _empty()
            return (self.latency > slow_ms).astype(float)
        if metric in FEEDBACK:
            return self.rating if metric == "rating" else self.bad_outcome
        return self.scores.get(metric, _empty())


def moments(values: np.ndarray) -> Moments:
    if values.size == 0:
        return Moments(0, 0.0, 0.0)
    return Moments(int(values.size), float(values.mean()), float(values.var()))


def p95(values: np.ndarray) -> float | None:
    return float(np.percentile(values, SLOW_QUANTILE)) if values.size else None


@dataclass(frozen=True)
class MetricResult:
    """One metric's comparison at one look."""

    metric: str
    control: float | None
    canary: float | None
    n_control: int
    n_canary: int
    interval: Interval | None
    margin: float
    verdict: str
    """`ok`, `fail` (worse beyond the margin) or `no_data` (too few observations to judge)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "control": _round(self.control),
            "canary": _round(self.canary),
            "n_control": self.n_control,
            "n_canary": self.n_canary,
            "difference": {k: _round(v) for k, v in self.interval.as_dict().items()}
            if self.interval
            else None,
            "margin": self.margin,
            "verdict": self.verdict,
        }

    def sentence(self) -> str:
        """`error_rate: canary 0.300 vs control 0.000 (difference in [+0.221, +0.380], margin 0.01)`."""
        iv = self.interval
        span = f"difference in [{iv.low:+.3g}, {iv.high:+.3g}]" if iv else "no interval"
        return (
            f"{self.metric}: canary {_fmt(self.canary)} vs control {_fmt(self.control)} "
            f"({span}, n={self.n_canary}/{self.n_control}, margin {self.margin:g})"
        )


def _round(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(x, 6)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def _fails(metric: str, iv: Interval, margin: float, control_mean: float) -> bool:
    if metric in HIGHER_IS_WORSE:
        return iv.low > margin
    if metric in LOWER_IS_WORSE:
        return iv.high < -margin
    allowed = margin * abs(control_mean)  # two-sided, relative to control (answer length)
    return iv.low > allowed or iv.high < -allowed


def _judge(
    metric: str, c: Moments, t: Moments, iv: Interval, margin: float, min_samples: int
) -> MetricResult:
    enough = c.n >= min_samples and t.n >= min_samples
    verdict = "no_data" if not enough else ("fail" if _fails(metric, iv, margin, c.mean) else "ok")
    return MetricResult(
        metric,
        c.mean if c.n else None,
        t.mean if t.n else None,
        c.n,
        t.n,
        iv if enough else None,
        margin,
        verdict,
    )


def compare_arms(
    control: ArmSample,
    canary: ArmSample,
    margins: dict[str, float],
    *,
    alpha: float,
    n_star: float,
    min_samples: int,
) -> list[MetricResult]:
    """Every judged metric, canary against control (independent arms)."""
    slow = p95(control.latency) if control.latency.size >= min_samples else None
    out = []
    for metric, margin in margins.items():
        c = moments(control.values(metric, slow))
        t = moments(canary.values(metric, slow))
        iv = diff_cs(c, t, alpha, n_star, one_sided=_one_sided(metric))
        out.append(_judge(metric, c, t, iv, margin, min_samples))
    return out


def _one_sided(metric: str) -> bool:
    """Harm has one direction for every metric but the answer length."""
    return metric in HIGHER_IS_WORSE or metric in LOWER_IS_WORSE


def compare_pairs(
    deltas: dict[str, np.ndarray],
    control_means: dict[str, float],
    margins: dict[str, float],
    *,
    alpha: float,
    n_star: float,
    min_samples: int,
) -> list[MetricResult]:
    """Shadow stage: per metric, the paired differences (candidate - control) on one request."""
    out = []
    for metric, margin in margins.items():
        d = moments(deltas.get(metric, _empty()))
        base = control_means.get(metric, 0.0)
        c = Moments(d.n, base, 0.0)
        t = Moments(d.n, base + d.mean, d.var)
        iv = mean_cs(d, alpha, n_star, one_sided=_one_sided(metric))
        out.append(_judge(metric, c, t, iv, margin, min_samples))
    return out


@dataclass(frozen=True)
class StageVerdict:
    action: str
    """`fail` (roll back now), `pass` (next step), `hold` (time is up, data is not) or `wait`."""
    reason: str


def stage_verdict(
    results: list[MetricResult],
    *,
    n_control: int,
    n_canary: int,
    min_requests: int,
    time_up: bool,
    shadow: bool = False,
) -> StageVerdict:
    """What a step's figures say (never `pass` or `fail` on missing data). In the shadow stage
    both counts are the mirrored pairs."""
    failed = [r for r in results if r.verdict == "fail"]
    if failed:
        return StageVerdict("fail", "; ".join(r.sentence() for r in failed))
    arms = (("shadow", n_canary),) if shadow else (("canary", n_canary), ("control", n_control))
    unit = "mirrored requests the shadow stage needs" if shadow else "requests a step needs"
    short = [f"{name} has {n} of the {min_requests} {unit}" for name, n in arms if n < min_requests]
    if not time_up:
        return StageVerdict("wait", "the interval has not passed")
    short += [_too_few(r) for r in results if r.metric in REQUIRED and r.verdict == "no_data"]
    if short:
        return StageVerdict("hold", "; ".join(short))
    judged = [r.metric for r in results if r.verdict == "ok"]
    counts = (
        f"{n_canary} mirrored requests"
        if shadow
        else f"{n_canary} canary and {n_control} control requests"
    )
    return StageVerdict(
        "pass",
        f"{counts}; no metric worse beyond its margin ({', '.join(judged) or 'none judged'})",
    )


def _too_few(r: MetricResult) -> str:
    return (
        f"{r.metric} has {r.n_canary} canary and {r.n_control} control scores; each arm needs "
        "rollout.min_samples"
    )


def alpha_per_check(alpha: float, stages: int, metrics: int) -> float:
    """The false-alarm budget of one metric at one stage (Bonferroni over the rollout)."""
    return alpha / max(1, stages) / max(1, metrics)


def planned_n(min_requests: int, share: float | None, tuning: int | None) -> float:
    """Total observations (both arms) when a step with canary `share` (0..1; None = shadow)
    reaches `min_requests` on its smaller arm: where the sequences are made tightest."""
    if tuning:
        return float(tuning)
    if share is None:
        return float(min_requests)
    if share >= 1:
        return 2.0 * min_requests
    return min_requests / min(share, 1 - share)


def judge_step(
    control: ArmSample,
    canary: ArmSample,
    margins: dict[str, float],
    *,
    alpha: float,
    stages: int,
    share: float,
    min_requests: int,
    min_samples: int,
    time_up: bool,
    tuning: int | None = None,
) -> tuple[StageVerdict, list[MetricResult]]:
    """One look at a live step: the per-metric results and what they say."""
    results = compare_arms(
        control,
        canary,
        margins,
        alpha=alpha_per_check(alpha, stages, len(margins)),
        n_star=planned_n(min_requests, share, tuning),
        min_samples=min_samples,
    )
    verdict = stage_verdict(
        results,
        n_control=control.requests,
        n_canary=canary.requests,
        min_requests=min_requests,
        time_up=time_up,
    )
    return verdict, results
