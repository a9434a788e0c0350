"""Paired statistics for base-vs-candidate on the same cases.

- `mcnemar_exact`: the exact (binomial) McNemar test on the discordant pairs of binary scores.
- `paired_bootstrap`: a seeded percentile bootstrap interval for the mean of per-case differences,
  resampling cases (both sides together), vectorized with numpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import comb
from typing import Any

import numpy as np


@dataclass(frozen=True)
class McNemar:
    """Discordant counts and the exact two-sided p-value."""

    b: int
    """Cases the base got right and the candidate wrong."""
    c: int
    """Cases the candidate got right and the base wrong."""
    p_value: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_exact(base: list[float] | np.ndarray, candidate: list[float] | np.ndarray) -> McNemar:
    """Exact McNemar test on paired binary outcomes (values > 0.5 count as correct)."""
    a, c_ = np.asarray(base) > 0.5, np.asarray(candidate) > 0.5
    b, c = int(np.sum(a & ~c_)), int(np.sum(~a & c_))
    return McNemar(b, c, mcnemar_p(b, c))


def mcnemar_p(b: int, c: int) -> float:
    """Two-sided exact p: 2 * P(X <= min(b, c)) for X ~ Binomial(b + c, 1/2), capped at 1."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class BootstrapCI:
    """Mean candidate-minus-base difference and its percentile interval."""

    mean_diff: float
    low: float
    high: float
    confidence: float
    samples: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def paired_bootstrap(
    base: list[float] | np.ndarray,
    candidate: list[float] | np.ndarray,
    *,
    samples: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
    chunk: int = 2000,
) -> BootstrapCI:
    """Percentile bootstrap CI of mean(candidate - base), resampling paired cases with replacement."""
    d = np.asarray(candidate, dtype=np.float64) - np.asarray(base, dtype=np.float64)
    n = len(d)
    if n == 0:
        return BootstrapCI(0.0, 0.0, 0.0, confidence, 0)
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    for start in range(0, samples, chunk):  # chunks bound memory at chunk x n indices
        size = min(chunk, samples - start)
        means[start : start + size] = d[rng.integers(0, n, size=(size, n))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return BootstrapCI(float(d.mean()), float(low), float(high), confidence, samples)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; 0 for no values."""
    return float(np.percentile(values, q)) if values else 0.0
