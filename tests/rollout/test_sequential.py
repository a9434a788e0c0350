"""The confidence sequences: the published formula, coverage that holds when looked at after every
observation (where a fixed-sample interval checked as often does not), and the false-alarm rate
of whole A/A rollouts driven through the controller's own judging code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunewise.serve.rollout.config import RolloutConfig
from tunewise.serve.rollout.sequential import Moments, boundary, diff_cs, mean_cs, rho2
from tunewise.serve.rollout.simulate import Traffic, false_alarm_rate


def growthbook_halfwidth(
    s2: float, n: float, tuning: float, alpha: float, two_sided: bool
) -> float:
    """gbstats' sequentialIntervalHalfwidth(OneSided), written out in its own parameterization."""
    a = alpha if two_sided else 2 * alpha
    rho = math.sqrt((-2 * math.log(a) + math.log(-2 * math.log(a) + 1)) / tuning)
    if two_sided:
        return math.sqrt(s2) * math.sqrt(
            2 * (n * rho**2 + 1) * math.log(math.sqrt(n * rho**2 + 1) / alpha) / (n * rho) ** 2
        )
    part = (
        2
        * (n * rho**2 + 1)
        / (n * rho) ** 2
        * math.log(1 + math.sqrt(n * rho**2 + 1) / (2 * alpha))
    )
    return math.sqrt(s2 * part)


@pytest.mark.parametrize("one_sided", [False, True])
@pytest.mark.parametrize(
    ("n", "tuning", "alpha"), [(100, 5000, 0.05), (4000, 5000, 0.01), (50, 200, 0.003)]
)
def test_half_width_is_the_published_formula(
    n: int, tuning: int, alpha: float, one_sided: bool
) -> None:
    mine = boundary(n, alpha, rho2(alpha, tuning, one_sided=one_sided), one_sided=one_sided)
    assert mine == pytest.approx(
        growthbook_halfwidth(1.0, n, tuning, alpha, not one_sided), rel=1e-12
    )


def test_two_arm_interval_uses_both_variances_and_the_total_count() -> None:
    c, t = Moments(300, 0.02, 0.0196), Moments(100, 0.05, 0.0475)
    iv = diff_cs(c, t, 0.05, 5000)
    s2 = 400 * (0.0196 / 300 + 0.0475 / 100)
    half = growthbook_halfwidth(s2, 400, 5000, 0.05, True)
    assert iv.estimate == pytest.approx(0.03)
    assert (iv.low, iv.high) == (pytest.approx(0.03 - half), pytest.approx(0.03 + half))
    assert diff_cs(Moments(0, 0, 0), t, 0.05, 100).low == -math.inf  # no control data: no claim
    # tightest near n_star: at n = n_star the sequence is narrower than one tuned far away
    assert boundary(500, 0.05, rho2(0.05, 500)) < boundary(500, 0.05, rho2(0.05, 50_000))


def _peeking_miss_rate(runs: int, n: int, alpha: float, sequential: bool, seed: int) -> float:
    """Share of runs whose interval for a zero mean excludes 0 at some look (n = 10..n)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((runs, n))
    k = np.arange(1, n + 1)
    mean = np.cumsum(x, axis=1) / k
    var = np.cumsum(x * x, axis=1) / k - mean**2
    if sequential:
        r2 = rho2(alpha, 500)
        width = np.array([boundary(i, alpha, r2) for i in k])
    else:
        width = np.full(n, 1.959964)  # a 95% interval, as if each look were the only one
    half = np.sqrt(var) * width / (1 if sequential else np.sqrt(k))
    looks = slice(9, None)
    return float(np.mean(np.any(np.abs(mean[:, looks]) > half[:, looks], axis=1)))


def test_a_confidence_sequence_survives_peeking_and_a_fixed_interval_does_not() -> None:
    assert _peeking_miss_rate(400, 2000, 0.05, sequential=True, seed=1) <= 0.05
    assert _peeking_miss_rate(400, 2000, 0.05, sequential=False, seed=1) > 0.2


def test_one_sample_sequence_for_paired_differences() -> None:
    iv = mean_cs(Moments(200, -0.1, 0.09), 0.05, 200, one_sided=True)
    assert iv.high < 0  # a clear drop is seen
    assert mean_cs(Moments(0, 0, 0), 0.05, 200).high == math.inf


def test_a_a_rollouts_roll_back_no_more_often_than_alpha() -> None:
    """The false-alarm check: A/A rollouts through every step, looked at after each batch of
    requests; the rolled-back share stays within the configured alpha (measured at scale by
    bench/rollout_false_alarm.py)."""
    cfg = RolloutConfig(alpha=0.05, min_requests=100, min_samples=20)
    result = false_alarm_rate(200, cfg, seed=7, requests_per_look=150, looks_per_interval=5)
    assert result["held"] == 0
    assert result["rolled_back"] <= 0.05 * 200, result


def test_a_bad_canary_is_caught_almost_always() -> None:
    """Power: a canary failing 12% of requests against control's 2% is rolled back in nearly
    every simulated rollout (the check above is not passing by never firing)."""
    import numpy as np

    from tunewise.serve.rollout.simulate import simulate_rollout

    cfg = RolloutConfig(alpha=0.05, min_requests=100, min_samples=20)
    rng = np.random.default_rng(3)
    outcomes = [
        simulate_rollout(cfg, rng, control=Traffic(), canary=Traffic(error_rate=0.12),
                         requests_per_look=150, looks_per_interval=5)[0]
        for _ in range(40)
    ]  # fmt: skip
    assert outcomes.count("rolled_back") >= 38
