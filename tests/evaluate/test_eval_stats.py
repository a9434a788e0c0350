"""McNemar's exact test and the paired bootstrap against known values."""

from __future__ import annotations

import numpy as np
import pytest

from tunewise.evaluate.stats import mcnemar_exact, mcnemar_p, paired_bootstrap, percentile


def test_mcnemar_textbook_values() -> None:
    # b=1, c=7: two-sided exact p = 2 * (C(8,0) + C(8,1)) / 2^8 = 18/256.
    assert mcnemar_p(1, 7) == pytest.approx(18 / 256)
    # b=c: no evidence either way.
    assert mcnemar_p(5, 5) == 1.0
    assert mcnemar_p(0, 0) == 1.0
    # b=0, c=10: 2 / 2^10.
    assert mcnemar_p(0, 10) == pytest.approx(2 / 1024)
    # Symmetric in b and c.
    assert mcnemar_p(7, 1) == mcnemar_p(1, 7)


def test_mcnemar_matches_scipy_binomtest() -> None:
    stats = pytest.importorskip("scipy.stats")
    for b, c in [(121, 59), (3, 12), (10, 11), (0, 4)]:
        expected = stats.binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue
        assert mcnemar_p(b, c) == pytest.approx(expected, rel=1e-9)


def test_mcnemar_counts_discordant_pairs() -> None:
    base = [1, 1, 0, 0, 1, 0, 1]
    cand = [1, 0, 1, 1, 1, 1, 0]
    result = mcnemar_exact(base, cand)
    assert (result.b, result.c) == (2, 3)


def test_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(0.5, 0.1, 200)
    cand = base + 0.05 + rng.normal(0, 0.05, 200)
    a = paired_bootstrap(base, cand, samples=2000, seed=3)
    b = paired_bootstrap(base, cand, samples=2000, seed=3)
    assert a == b
    assert a.low < a.mean_diff < a.high
    assert a.low > 0.03 and a.high < 0.07


def test_bootstrap_coverage_on_synthetic_data() -> None:
    """A 90% interval covers the true mean difference in roughly 90% of repeated experiments."""
    rng = np.random.default_rng(0)
    trials, covered = 300, 0
    for t in range(trials):
        base = rng.binomial(1, 0.6, 60).astype(float)
        cand = np.clip(base + rng.binomial(1, 0.25, 60) - rng.binomial(1, 0.15, 60) * base, 0, 1)
        ci = paired_bootstrap(base, cand, samples=1000, confidence=0.9, seed=t)
        covered += ci.low <= _true_diff() <= ci.high
    assert 0.84 <= covered / trials <= 0.96, covered / trials


def _true_diff() -> float:
    # cand = clip(base + g - l*base): base=1: loses with p 0.15 unless gained (g=1 keeps it at 1):
    # E[cand - base] = P(base=0)P(g=1) - P(base=1)P(g=0)P(l=1) = 0.4*0.25 - 0.6*0.75*0.15
    return 0.4 * 0.25 - 0.6 * 0.75 * 0.15


def test_percentile() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([], 95) == 0.0
