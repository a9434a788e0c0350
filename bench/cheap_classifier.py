"""The embedding classifier on Banking77: 10 intents x 20 training rows, every other row held out.

    python bench/cheap_classifier.py                  # -> bench/results/cheap_classifier.json
    python bench/cheap_classifier.py --held-out 30    # 30 held-out rows per intent (quicker)

The first 10 intents (sorted by name) of ../shared/datasets/banking77/train.csv; per intent the
first 20 rows train, the rest (or --held-out of them) form the golden set, so the two never share
a row. The answer is the intent name, as in examples/banking77. Measured through the same code
`tunewise run` uses: `train_classifier` then `evaluate_variant` with the exact_match scorer. The
nearest-neighbour vote on the same embeddings is the baseline, computed in the same script.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from machine import machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
RESULTS = ROOT / "bench" / "results" / "cheap_classifier.json"
BANKING77 = Path(
    os.environ.get("TUNEWISE_BANKING77", ROOT.parent / "shared" / "datasets" / "banking77")
)


def nearest_neighbour(train: Path, golden: Path) -> float:
    """Accuracy of answering with the label of the most similar training query."""
    import numpy as np

    from tunewise.embeddings import embed
    from tunewise.evaluate.classifier import query_text, read_training_rows

    users, answers = read_training_rows(train)
    cases = [json.loads(line) for line in golden.read_text().splitlines()]
    sims = embed([query_text(c["messages"]) for c in cases]) @ embed(users).T
    picked = [answers[j] for j in np.argmax(sims, axis=1)]
    return sum(p == c["expected"] for p, c in zip(picked, cases, strict=True)) / len(cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--intents", type=int, default=10)
    parser.add_argument("--train", type=int, default=20, help="training rows per intent")
    parser.add_argument(
        "--held-out", type=int, default=10_000, help="held-out rows per intent (at most)"
    )
    args = parser.parse_args()
    if not (BANKING77 / "train.csv").is_file():
        sys.exit(f"Banking77 not found at {BANKING77}; set TUNEWISE_BANKING77")
    from classifier_data import banking77_split
    from tunewise.evaluate.api import evaluate_variant
    from tunewise.evaluate.classifier import train_classifier
    from tunewise.evaluate.config import EvalConfig, ScorerSpec
    from tunewise.evaluate.variants import Variant

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        train, golden = banking77_split(
            BANKING77 / "train.csv", Path(tmp), args.intents, args.train, args.held_out
        )
        t0 = time.perf_counter()
        train_classifier(train, Path(tmp) / "clf")
        train_s = time.perf_counter() - t0
        cfg = EvalConfig(scorers=[ScorerSpec(name="exact_match")], cache=False, batch_size=64)
        t0 = time.perf_counter()
        run = evaluate_variant(
            golden, Variant(kind="classifier", model=str(Path(tmp) / "clf")), cfg, progress=False
        )
        eval_s = time.perf_counter() - t0
        nn = nearest_neighbour(train, golden)
    result = {
        "task": f"Banking77, first {args.intents} intents, {args.train} training rows each, disjoint held-out rows",
        "train_rows": args.intents * args.train,
        "held_out_rows": len(run.cases),
        "classifier_accuracy": run.means()["exact_match"],
        "nearest_neighbour_accuracy": nn,
        "train_seconds": round(train_s, 1),
        "eval_seconds": round(eval_s, 1),
        "ms_per_query": round(1000 * eval_s / len(run.cases), 1),
        "command": "python bench/cheap_classifier.py" + ("" if args.held_out == 10_000 else f" --held-out {args.held_out}"),
        "machine": {**machine(), "load_avg_before": load_before},
    }  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
