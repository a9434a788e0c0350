"""False alarms and power of the rollout controller's statistics, on simulated traffic.

    python bench/rollout_false_alarm.py               # -> bench/results/rollout_false_alarm.json
    python bench/rollout_false_alarm.py --runs 200    # a quicker run

Each simulated rollout goes through the default steps (5, 25, 50, 100%) with the default
`rollout:` settings (alpha 0.05, 200 requests per arm per step), looking after every tick of 400
requests exactly as the controller does (judge.judge_step on the step's data so far; a 100% step
against the previous step's control). Measured:
  a_a            canary identical to control: the share rolled back is the false-alarm rate
  naive_peeking  the baseline, same loop, but each look uses a fixed-sample 95% interval and no
                 split of alpha over steps and metrics: what checking a t-test every interval does
  power          canaries that are worse on one metric: the share rolled back, and at what step
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from machine import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "rollout_false_alarm.json"


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    """95% Wilson interval of a proportion."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def naive(module: Any) -> None:
    """Swap the controller's interval for a fixed-sample 95% z-interval, alpha unsplit."""
    from tunewise.serve.rollout.sequential import Interval

    def z_interval(c: Any, t: Any, alpha: float, n_star: float, *, one_sided: bool = False) -> Any:
        if c.n == 0 or t.n == 0:
            return Interval(t.mean - c.mean, -math.inf, math.inf)
        half = 1.959964 * math.sqrt(c.var / c.n + t.var / t.n)
        d = t.mean - c.mean
        return Interval(d, d - half, d + half)

    module.diff_cs = z_interval
    module.alpha_per_check = lambda alpha, stages, metrics: alpha


def run_many(runs: int, canary: Any, seed: int) -> dict[str, Any]:
    import numpy as np

    from tunewise.serve.rollout.config import RolloutConfig
    from tunewise.serve.rollout.simulate import Traffic, simulate_rollout

    cfg = RolloutConfig()
    rng = np.random.default_rng(seed)
    outcomes: dict[str, int] = {"promoted": 0, "rolled_back": 0, "held": 0}
    at_step = [0] * len(cfg.steps)
    started = time.perf_counter()
    for _ in range(runs):
        outcome, step = simulate_rollout(cfg, rng, control=Traffic(), canary=canary,
                                         requests_per_look=400, looks_per_interval=10)  # fmt: skip
        outcomes[outcome] += 1
        if outcome == "rolled_back":
            at_step[step] += 1
    k = outcomes["rolled_back"]
    return {"runs": runs, **outcomes, "rolled_back_share": k / runs,
            "rolled_back_share_ci95": wilson(k, runs), "rolled_back_at_step": at_step,
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1000, help="A/A rollouts (default 1000).")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from tunewise.serve.rollout import judge
    from tunewise.serve.rollout.config import RolloutConfig
    from tunewise.serve.rollout.simulate import Traffic

    cfg = RolloutConfig()
    settings = {"steps": cfg.steps, "alpha": cfg.alpha, "min_requests": cfg.min_requests,
                "margins": cfg.judged(), "requests_per_look": 400, "looks_per_interval": 10,
                "traffic": Traffic().__dict__}  # fmt: skip
    result: dict[str, Any] = {"machine": machine(), "settings": settings}
    result["a_a"] = run_many(args.runs, Traffic(), seed=1)
    print("A/A:", result["a_a"], flush=True)
    worse = {
        "error_rate 2% -> 5%": Traffic(error_rate=0.05),
        "json_valid 95% -> 90%": Traffic(json_valid=0.90),
        "latency x1.3": Traffic(latency_ms=390.0),
        "rating 0.8 -> 0.6": Traffic(good_rating=0.6),
    }
    result["power"] = {}
    for name, canary in worse.items():
        result["power"][name] = run_many(max(50, args.runs // 5), canary, seed=2)
        print(name, result["power"][name], flush=True)
    saved = (judge.diff_cs, judge.alpha_per_check)
    naive(judge)
    try:
        result["naive_peeking"] = run_many(max(100, args.runs // 3), Traffic(), seed=1)
    finally:
        judge.diff_cs, judge.alpha_per_check = saved
    print("naive peeking:", result["naive_peeking"], flush=True)
    result["machine"]["load_avg_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
