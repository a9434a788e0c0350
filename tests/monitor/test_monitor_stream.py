"""The bounded-memory summaries the streaming pass keeps, against the exact figures on raw values:
the latency sketch, KS from length histograms, and the prompt reservoir."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tunewise.monitor import outputs
from tunewise.monitor.quality import Quantiles
from tunewise.monitor.stream import Prompt, Reservoir


def test_quantiles_exact_then_within_one_percent() -> None:
    rng = random.Random(0)
    values = [rng.lognormvariate(4, 1) for _ in range(20_000)]
    few = Quantiles()
    for v in values[:1000]:
        few.add(v)
    assert few.values is not None  # still exact
    assert few.quantile(50) == sorted(values[:1000])[499]
    many = Quantiles()
    for v in values:
        many.add(v)
    assert many.values is None and len(many.buckets) < 1000  # the sketch, not the values
    exact = sorted(values)
    for q in (50, 95, 99):
        truth = exact[int(q / 100 * len(values)) - 1]
        assert many.quantile(q) == pytest.approx(truth, rel=0.011)
    assert Quantiles().quantile(50) is None


def test_ks_from_histograms_matches_scipy() -> None:
    from scipy.stats import ks_2samp

    rng = random.Random(1)
    a = [int(rng.gauss(40, 8)) for _ in range(12_000)]
    b = [int(rng.gauss(41, 8)) for _ in range(15_000)]  # past the exact test's size: asymptotic
    got = outputs.length_drift_counts(Counter(a), Counter(b))
    want = ks_2samp(a, b, method="asymp")
    assert got["ks"] == pytest.approx(want.statistic)
    assert got["p_value"] == pytest.approx(want.pvalue, rel=0.05)
    assert got["production_mean"] == pytest.approx(sum(b) / len(b))
    small = outputs.length_drift_counts(Counter(a[:300]), Counter(b[:200]))
    assert small["p_value"] == pytest.approx(ks_2samp(a[:300], b[:200]).pvalue)


def test_reservoir_is_uniform_and_bounded() -> None:
    hits: Counter[int] = Counter()
    for seed in range(300):
        r: Reservoir[Prompt] = Reservoir(10, seed)
        for i in range(100):
            r.add(Prompt(i, str(i), "d"))
        assert len(r.items) == 10 and r.seen == 100
        assert len(r.sample(5)) == 5 and r.sample(50) == r.items
        hits.update(p.index // 25 for p in r.items)
    # Each quarter of the stream holds about a quarter of the kept items (750 each).
    assert all(650 < hits[q] < 850 for q in range(4)), hits
