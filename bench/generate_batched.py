"""Batched against sequential greedy generation on SmolLM2-135M-Instruct, and the cached re-run.

    python bench/generate_batched.py                 # 40 prompts, 24 new tokens -> bench/results/generate_batched.json
    python bench/generate_batched.py --prompts 16    # a quicker smoke run

Prompts are golden-set-like: a system prompt listing 10 Banking77 intents with a JSON answer format,
then one real Banking77 query (../shared/datasets/banking77/train.csv; the benchmark skips without it).
Measured, each on the same prompts:

  sequential    tunewise.infer.generate(batch_size=1): one prompt at a time
  batched       generate(batch_size=B): length-sorted, left-padded batches (fp32)
  batched_bf16  the same under bfloat16 autocast (reported, not the default: see `identical`)
  runner_cold   tunewise.evaluate.runner.run_eval with an empty cache (generation + scoring + cache writes)
  runner_warm   the same run again: every answer from the cache

Outputs are compared prompt by prompt against the sequential run. The machine is shared: the load
average before and after is recorded next to the timings.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from machine import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "generate_batched.json"
BANKING77 = Path(
    os.environ.get("TUNEWISE_BANKING77", ROOT.parent / "shared" / "datasets" / "banking77")
)


def golden_like(n: int) -> list[dict]:
    rows = list(csv.DictReader((BANKING77 / "train.csv").open(encoding="utf-8")))
    intents = sorted({r["category"] for r in rows})[:: max(1, 77 // 10)][:10]
    picked = [r for r in rows if r["category"] in intents]
    picked = picked[:: max(1, len(picked) // n)][:n]
    system = (
        "You route banking support messages. Answer with JSON only, exactly "
        '{"intent": "<label>"} where <label> is one of: ' + ", ".join(intents) + "."
    )
    return [
        {"id": f"b77-{i}", "messages": [{"role": "system", "content": system}, {"role": "user", "content": r["text"]}],
         "expected": {"intent": r["category"]}, "tags": [f"intent:{r['category']}"]}
        for i, r in enumerate(picked)
    ]  # fmt: skip


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--prompts", type=int, default=40)
    ap.add_argument("--new-tokens", type=int, default=24)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's own)"
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if not (BANKING77 / "train.csv").is_file():
        print(f"skipped: Banking77 not found at {BANKING77}")
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["TUNEWISE_HOME"] = tempfile.mkdtemp(prefix="tw-bench-")  # an empty generation cache
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from tunewise.evaluate.api import scorers_from_config
    from tunewise.evaluate.backends import Settings
    from tunewise.evaluate.config import EvalConfig
    from tunewise.evaluate.golden import Case, GoldenSet, golden_hash
    from tunewise.evaluate.runner import run_eval
    from tunewise.evaluate.variants import Variant
    from tunewise.infer import generate, load

    rows = golden_like(args.prompts)
    msgs = [r["messages"] for r in rows]
    load_before = os.getloadavg()
    _, load_s = timed(lambda: load("smollm2-135m"))

    def gen(bs: int, bf16: bool = False) -> list:
        return generate(
            msgs, "smollm2-135m", max_new_tokens=args.new_tokens, batch_size=bs, bf16=bf16
        )

    generate(msgs[:2], "smollm2-135m", max_new_tokens=2, batch_size=2)  # warm-up
    seq, seq_s = timed(lambda: gen(1))
    bat, bat_s = timed(lambda: gen(args.batch_size))
    b16, b16_s = timed(lambda: gen(args.batch_size, True))

    cases = [Case(r["id"], r["messages"], r["expected"], r["tags"]) for r in rows]
    golden = GoldenSet("bench", cases, golden_hash(cases))
    settings = Settings(max_new_tokens=args.new_tokens, batch_size=args.batch_size)
    scorers = scorers_from_config(EvalConfig())
    cold, cold_s = timed(
        lambda: run_eval(golden, Variant(model="smollm2-135m"), scorers, settings, progress=False)
    )
    warm, warm_s = timed(
        lambda: run_eval(golden, Variant(model="smollm2-135m"), scorers, settings, progress=False)
    )

    texts = [g.text for g in seq]
    same = lambda gens: sum(a == g.text for a, g in zip(texts, gens, strict=True))  # noqa: E731
    mach = machine()
    result = {
        "command": "python bench/generate_batched.py " + " ".join(sys.argv[1:]),
        "model": "smollm2-135m (SmolLM2-135M-Instruct, fp32)",
        "prompts": len(msgs),
        "new_tokens": args.new_tokens,
        "batch_size": args.batch_size,
        "prompt_tokens_mean": sum(g.tokens_in for g in seq) / len(seq),
        "output_tokens_total": sum(g.tokens_out for g in seq),
        "torch_threads": torch.get_num_threads(),
        "model_load_s": round(load_s, 2),
        "sequential_s": round(seq_s, 2),
        "batched_s": round(bat_s, 2),
        "speedup": round(seq_s / bat_s, 2),
        "identical": {"batched": same(bat), "batched_bf16": same(b16), "of": len(msgs)},
        "batched_bf16_s": round(b16_s, 2),
        "bf16_speedup_vs_fp32_batched": round(bat_s / b16_s, 2),
        "runner_cold_s": round(cold_s, 2),
        "runner_warm_s": round(warm_s, 3),
        "runner_warm_cache_hits": warm.cache_hits,
        "runner_outputs_match_sequential": sum(
            a == c.output for a, c in zip(texts, cold.cases, strict=True)
        ),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "machine": f"{mach['cpu']}, {mach['cores']} cores (shared)",
        **mach,
        "torch": torch.__version__,
        "sample_outputs": texts[:3],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
