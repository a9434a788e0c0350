"""How many LoRA-trained tokens per second this CPU can do at most: matmul throughput x model FLOPs.

LoRA training of a decoder costs, per computed token, a forward (2 FLOPs per frozen weight) and a
backward through the activations (another 2; frozen weights need no weight gradient): about
4 x (non-embedding parameters) FLOPs, plus small extras (the adapters, attention, the LM head at
labelled positions). This script measures the machine's matmul rate at the shapes SmolLM2-135M
trains with (fp32 and bf16, same process, so their ratio holds on a noisy machine) and turns it
into a ceiling: the tokens/s a trainer would reach if it did nothing but those matmuls at that rate.
Sharing a prefix (tunewise's packing) lowers the tokens computed per trained token, and so raises
the ceiling by 1 / (1 - shared fraction).

    python bench/cpu_roofline.py                   # writes bench/results/cpu_roofline.json
    python bench/cpu_roofline.py --shared 0.38     # the shared-prefix fraction to assume
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from machine import machine

RESULTS = Path(__file__).resolve().parent / "results" / "cpu_roofline.json"
# SmolLM2-135M: hidden 576, MLP 1536, 30 layers, 9 query heads / 3 KV heads of 64
HIDDEN, MLP, LAYERS, KV = 576, 1536, 30, 192
SHAPES = [  # (in, out) of every projection in one layer
    (HIDDEN, HIDDEN),  # q
    (HIDDEN, KV),  # k
    (HIDDEN, KV),  # v
    (HIDDEN, HIDDEN),  # o
    (HIDDEN, MLP),  # gate
    (HIDDEN, MLP),  # up
    (MLP, HIDDEN),  # down
]


def layer_rate(torch, dtype, m: int, reps: int = 20) -> float:
    """GFLOP/s of one layer's forward + activation-gradient matmuls on m tokens."""
    mats = [
        (
            torch.randn(m, i, dtype=dtype),
            torch.randn(o, i, dtype=dtype),
            torch.randn(m, o, dtype=dtype),
        )
        for i, o in SHAPES
    ]

    def once() -> None:
        for x, w, g in mats:
            x @ w.t()  # forward
            g @ w  # gradient w.r.t. the input

    for _ in range(3):
        once()
    t0 = time.perf_counter()
    for _ in range(reps):
        once()
    dt = (time.perf_counter() - t0) / reps
    flops = sum(4 * m * i * o for i, o in SHAPES)
    return flops / dt / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=float, default=0.0, help="shared-prefix fraction to assume")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    flops_per_token = LAYERS * sum(4 * i * o for i, o in SHAPES)
    out: dict = {
        "threads": args.threads,
        "gflop_per_token": round(flops_per_token / 1e9, 4),
        "rates": {},
        "load_avg": os.getloadavg(),
        "machine": machine(),
    }
    for dtype in (torch.float32, torch.bfloat16):
        for m in (256, 512, 1024):
            r = layer_rate(torch, dtype, m)
            out["rates"][f"{str(dtype).split('.')[-1]}_m{m}"] = round(r, 1)
            print(f"{dtype} M={m}: {r:.1f} GFLOP/s", flush=True)
    best32 = max(v for k, v in out["rates"].items() if k.startswith("float32"))
    best16 = max(v for k, v in out["rates"].items() if k.startswith("bfloat16"))
    out["bf16_over_fp32"] = round(best16 / best32, 2)
    ceiling = max(best32, best16) * 1e9 / flops_per_token
    out["ceiling_tokens_per_s"] = round(ceiling, 1)
    out["ceiling_tokens_per_s_with_shared_prefix"] = round(ceiling / (1 - args.shared), 1)
    out["shared_fraction_assumed"] = args.shared
    print(
        f"bf16/fp32 {out['bf16_over_fp32']}x; ceiling {ceiling:.0f} tokens/s "
        f"({out['ceiling_tokens_per_s_with_shared_prefix']:.0f} with {args.shared:.0%} shared)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
