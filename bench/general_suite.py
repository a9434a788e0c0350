"""A model on the general-capability (forgetting) suite: its score overall and per category.

    python bench/general_suite.py                                  # the bundled base, zero-shot
    python bench/general_suite.py --variant local:smollm2-135m,adapter=runs/x/train/adapter

The same run the gate's forgetting check makes (`eval.forgetting_max_new_tokens` 48, greedy, the
`check` scorer); answers come from the generation cache when the model and settings are unchanged.
Writes bench/results/general_suite.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path

from machine import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "general_suite.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", default="local:smollm2-135m")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    from tunewise.evaluate.backends import Settings
    from tunewise.evaluate.forgetting import forgetting_suite
    from tunewise.evaluate.runner import run_eval
    from tunewise.evaluate.scorers import build_scorer
    from tunewise.evaluate.variants import parse_variant

    suite = forgetting_suite("builtin")
    assert suite is not None
    t0 = time.perf_counter()
    run = run_eval(suite, parse_variant(args.variant), [build_scorer("check")],
                   Settings(max_new_tokens=args.max_new_tokens), progress=True)  # fmt: skip
    by: dict[str, list[float]] = defaultdict(list)
    for case in run.cases:
        by[case.tags[0]].append(case.scores["check"])
    result = {
        "variant": run.label,
        "identity": run.identity,
        "cases": len(run.cases),
        "score": run.means()["check"],
        "right": int(sum(c.scores["check"] for c in run.cases)),
        "categories": {k: {"right": int(sum(v)), "n": len(v)} for k, v in by.items()},
        "failed": [c.id for c in run.cases if c.scores["check"] < 1],
        "seconds": round(time.perf_counter() - t0, 1),
        "cache_hits": run.cache_hits,
        "golden_hash": run.golden_hash,
        "load_avg": os.getloadavg(),
        "machine": machine(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "failed"}, indent=2))


if __name__ == "__main__":
    main()
