"""Simulated rollouts: the controller's statistics driven by synthetic traffic.

`false_alarm_rate(runs=...)` ramps an A/A canary (the same distributions on both arms) through
every step, looking after each batch of requests exactly as the controller looks after each
tick, and counts the rollouts that end rolled back. With a fixed-sample test checked at every
look (`naive=True`) the same loop shows why peeking needs a confidence sequence. Used by the
false-alarm test and bench/rollout_false_alarm.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tunewise.serve.rollout.config import RolloutConfig
from tunewise.serve.rollout.judge import ArmSample, judge_step


@dataclass(frozen=True)
class Traffic:
    """One arm's behaviour; an A/A run uses the same for both."""

    error_rate: float = 0.02
    latency_ms: float = 300.0
    latency_sigma: float = 0.5
    json_valid: float = 0.95
    refusal: float = 0.03
    hallucination: float = 0.02
    chars_mean: float = 80.0
    chars_sd: float = 25.0
    feedback_share: float = 0.1
    good_rating: float = 0.8
    outcome_share: float = 0.05
    bad_outcome: float = 0.1

    def sample(self, n: int, rng: np.random.Generator) -> ArmSample:
        errors = (rng.random(n) < self.error_rate).astype(float)
        ok = int(n - errors.sum())
        scores = {
            "json_valid": (rng.random(ok) < self.json_valid).astype(float),
            "refusal": (rng.random(ok) < self.refusal).astype(float),
            "hallucination_marker": (rng.random(ok) < self.hallucination).astype(float),
            "chars": np.maximum(0, np.round(rng.normal(self.chars_mean, self.chars_sd, ok))),
        }
        rated = rng.binomial(ok, self.feedback_share)
        labelled = rng.binomial(ok, self.outcome_share)
        return ArmSample(
            errors=errors,
            latency=rng.lognormal(np.log(self.latency_ms), self.latency_sigma, ok),
            scores=scores,
            rating=(rng.random(rated) < self.good_rating).astype(float),
            bad_outcome=(rng.random(labelled) < self.bad_outcome).astype(float),
        )


def _join(a: ArmSample, b: ArmSample) -> ArmSample:
    cat = np.concatenate
    return ArmSample(
        errors=cat([a.errors, b.errors]),
        latency=cat([a.latency, b.latency]),
        scores={k: cat([a.scores.get(k, np.zeros(0)), v]) for k, v in b.scores.items()},
        rating=cat([a.rating, b.rating]),
        bad_outcome=cat([a.bad_outcome, b.bad_outcome]),
    )


def simulate_rollout(
    cfg: RolloutConfig,
    rng: np.random.Generator,
    *,
    control: Traffic,
    canary: Traffic,
    requests_per_look: int,
    looks_per_interval: int,
    max_looks_per_step: int = 100,
) -> tuple[str, int]:
    """('promoted' | 'rolled_back' | 'held', step index reached) for one simulated rollout."""
    # Simulated traffic has no output schema and no LLM judge: those metrics are not judged.
    margins = {k: v for k, v in cfg.judged().items() if k not in {"json_schema", "judge"}}
    previous_control: ArmSample | None = None
    for index, percent in enumerate(cfg.steps):
        share = percent / 100
        c_arm, t_arm = ArmSample(), ArmSample()
        for look in range(1, max_looks_per_step + 1):
            n_canary = int(rng.binomial(requests_per_look, share))
            t_arm = _join(t_arm, canary.sample(n_canary, rng))
            if share < 1:
                c_arm = _join(c_arm, control.sample(requests_per_look - n_canary, rng))
            reference = previous_control if share >= 1 and previous_control else c_arm
            verdict, _ = judge_step(
                reference, t_arm, margins, alpha=cfg.alpha, stages=len(cfg.steps), share=share,
                min_requests=cfg.min_requests, min_samples=cfg.min_samples,
                time_up=look >= looks_per_interval, tuning=cfg.sequential_tuning,
            )  # fmt: skip
            if verdict.action == "fail":
                return "rolled_back", index
            if verdict.action == "pass":
                break
        else:
            return "held", index
        previous_control = c_arm if share < 1 else previous_control
    return "promoted", len(cfg.steps) - 1


def false_alarm_rate(
    runs: int,
    cfg: RolloutConfig | None = None,
    *,
    seed: int = 0,
    requests_per_look: int = 200,
    looks_per_interval: int = 10,
    traffic: Traffic | None = None,
) -> dict[str, float | int]:
    """Share of A/A rollouts rolled back (the false-alarm rate), with counts."""
    cfg = cfg or RolloutConfig(min_requests=200)
    traffic = traffic or Traffic()
    rng = np.random.default_rng(seed)
    outcomes = {"promoted": 0, "rolled_back": 0, "held": 0}
    for _ in range(runs):
        outcome, _ = simulate_rollout(
            cfg, rng, control=traffic, canary=traffic,
            requests_per_look=requests_per_look, looks_per_interval=looks_per_interval,
        )  # fmt: skip
        outcomes[outcome] += 1
    return {"runs": runs, **outcomes, "false_alarm_rate": outcomes["rolled_back"] / runs}
