"""Anytime-valid confidence sequences: intervals that may be looked at after every request.

A fixed-sample confidence interval checked at every interval of a ramp inflates false alarms
(peeking). An asymptotic confidence sequence (Waudby-Smith, Arnold, Wu, McAuliffe and Ramdas,
"Time-uniform central limit theory and asymptotic confidence sequences", Annals of Statistics
2024, arXiv:2103.06476, eq. 2.7 with the conjugate-mixture boundary) covers the mean at every
sample size at once with probability about 1 - alpha. For n observations with mean m and
estimated standard deviation s:

    m +- s * sqrt( 2 (n rho2 + 1) / (n^2 rho2) * log( sqrt(n rho2 + 1) / alpha ) )

    rho2 = (-2 log alpha + log(-2 log alpha + 1)) / n_star

where n_star is the sample size at which the sequence is tightest (the paper's approximately
optimal rho; GrowthBook's sequential mode calls n_star its tuning parameter, default 5,000).
A one-sided bound (is the canary worse?) uses GrowthBook's one-sided form: rho2 computed with
2 alpha, and log(1 + sqrt(n rho2 + 1) / (2 alpha)) in place of the log term; `one_sided=True`
returns estimate +- that half-width, each side of which alone holds with probability 1 - alpha.

The difference of two independent arms (canary - control) uses the same boundary with
N = n_c + n_t and s^2 = N (var_c / n_c + var_t / n_t), as GrowthBook's SequentialTwoSidedTTest
does (gbstats: `sequentialIntervalHalfwidth(s2 = se^2 * n, n = nA + nB)`). Both are checked in
tests/rollout/test_sequential.py against the formula, and their false-alarm rate under an A/A
ramp is measured by bench/rollout_false_alarm.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Moments:
    """Count, mean and (population) variance of one sample."""

    n: int
    mean: float
    var: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Moments:
        xs = [float(v) for v in values]
        n = len(xs)
        if n == 0:
            return cls(0, 0.0, 0.0)
        mean = math.fsum(xs) / n
        return cls(n, mean, math.fsum((x - mean) ** 2 for x in xs) / n)


@dataclass(frozen=True)
class Interval:
    """An estimate and its confidence sequence [low, high] at the time it was computed."""

    estimate: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def rho2(alpha: float, n_star: float, *, one_sided: bool = False) -> float:
    """The mixture parameter that makes the sequence tightest near `n_star` observations."""
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if n_star <= 0:
        raise ValueError(f"n_star must be positive, got {n_star}")
    a = -2 * math.log(2 * alpha if one_sided else alpha)
    return (a + math.log(a + 1)) / n_star


def boundary(n: float, alpha: float, r2: float, *, one_sided: bool = False) -> float:
    """The unit-variance half-width after `n` observations (multiply by the sd)."""
    if n <= 0:
        return math.inf
    t = n * r2 + 1
    if one_sided:
        return math.sqrt(2 * t / (n * n * r2) * math.log(1 + math.sqrt(t) / (2 * alpha)))
    return math.sqrt(2 * t / (n * n * r2) * math.log(math.sqrt(t) / alpha))


def mean_cs(m: Moments, alpha: float, n_star: float, *, one_sided: bool = False) -> Interval:
    """Confidence sequence for the mean of one sample (e.g. paired shadow differences)."""
    if m.n == 0:
        return Interval(0.0, -math.inf, math.inf)
    r2 = rho2(alpha, n_star, one_sided=one_sided)
    half = math.sqrt(m.var) * boundary(m.n, alpha, r2, one_sided=one_sided)
    return Interval(m.mean, m.mean - half, m.mean + half)


def diff_cs(
    control: Moments, canary: Moments, alpha: float, n_star: float, *, one_sided: bool = False
) -> Interval:
    """Confidence sequence for canary mean - control mean (independent arms)."""
    if control.n == 0 or canary.n == 0:
        return Interval(canary.mean - control.mean, -math.inf, math.inf)
    total = control.n + canary.n
    s2 = total * (control.var / control.n + canary.var / canary.n)
    r2 = rho2(alpha, n_star, one_sided=one_sided)
    half = math.sqrt(s2) * boundary(total, alpha, r2, one_sided=one_sided)
    delta = canary.mean - control.mean
    return Interval(delta, delta - half, delta + half)
