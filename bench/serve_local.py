"""The local upstream's engine on SmolLM2-135M-Instruct: micro-batching on vs off, mixed adapters.

    python bench/serve_local.py                     # -> bench/results/serve_local.json
    python bench/serve_local.py --requests 1 --max-tokens 8    # a quicker smoke run
    python bench/serve_local.py --device cuda --plan quick --out ...   # on a GPU (bench/gpu_check.py)

Closed-loop clients (each sends its next request when the last one is answered) call
`serve.engine.Engine` in-process, so the figures are the engine's, not HTTP's. Requests cycle
over 24 chat questions and over the base and two LoRA adapters (r=16 on every projection, random
weights: what they say does not matter, what they cost does). Measured on one loaded model:

  off           max_batch=1: one request at a time, the baseline, at 1, 4 and 16 clients
  on            continuous batching (max_batch=16): at 1, 4 and 16 clients
  window        at 16 clients: a batch runs to its end before the next starts (no joining)
  one_adapter   at 16 clients: continuous, but one adapter per batch (no mixed-adapter batches)

Every answer is compared with the same request answered alone (the `off` run at 1 client):
greedy output must be identical. The machine is shared with other work: compare the ratios
within one run; the load average before and after is recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from machine import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "serve_local.json"
QUESTIONS = [
    "How do I reset my online banking password?",
    "My card was declined at a shop today. Why could that be?",
    "Write a short poem about autumn leaves.",
    "What is the difference between a debit card and a credit card?",
    "Explain photosynthesis to a ten year old.",
    "Give me three tips for a job interview.",
    "Can I change the PIN of my card in the app?",
    "What is the capital of Australia?",
    "Summarise the plot of Romeo and Juliet in two sentences.",
    "How long does an international transfer take?",
    "Suggest a name for a friendly robot.",
    "Why is the sky blue?",
    "I was charged twice for the same purchase. What should I do?",
    "Translate 'thank you very much' into French and Spanish.",
    "What are the health benefits of walking every day?",
    "How do I freeze my card if I lost it?",
    "Write a haiku about the sea.",
    "What does a compiler do?",
    "Recommend a book for someone who likes science fiction.",
    "How can I top up my account with cash?",
    "What is 15 percent of 80?",
    "List the planets of the solar system.",
    "Why did my exchange rate look wrong on a payment abroad?",
    "Describe a cat in three words.",
]


def make_adapters(base_folder: Path, out: Path) -> dict[str, Path]:
    """Two r=16 LoRA adapters on every projection, small random weights, pinned to the base hash."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tunewise.models import model_hash
    from tunewise.train.manifest import write_manifest

    folders = {}
    for name, seed in (("a1", 1), ("a2", 2)):
        torch.manual_seed(seed)
        model = get_peft_model(
            AutoModelForCausalLM.from_pretrained(base_folder),
            LoraConfig(
                r=16,
                lora_alpha=32,
                target_modules=[
                    "q_proj",
                    "k_proj",
                    "v_proj",
                    "o_proj",
                    "gate_proj",
                    "up_proj",
                    "down_proj",
                ],
                init_lora_weights=False,
            ),
        )
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.mul_(0.1)  # a nudge: answers change but stay language
        folder = out / name
        model.save_pretrained(folder)
        write_manifest(
            folder,
            kind="adapter",
            base_id="smollm2-135m",
            base_path=base_folder,
            base_hash=model_hash(base_folder),
            data_dir=folder,
            config={},
            metrics={},
            tokens_trained=0,
            wall_time_s=0.0,
            job_id=None,
        )
        folders[name] = folder
    return folders


async def load_run(engine, clients: int, total: int, max_tokens: int) -> dict:  # type: ignore[no-untyped-def]
    """`clients` closed-loop clients sharing requests 0..total-1; latencies and answers.

    Request j asks question j % 24 of the base or an adapter, the same set at every concurrency;
    client c sends j = c, c + clients, ... so the adapters in flight are always mixed.
    """
    answers: dict[tuple[int, str | None], str] = {}
    latencies: list[float] = []
    tokens = 0

    async def client(c: int) -> None:
        nonlocal tokens
        for j in range(c, total, clients):
            key = request(j)
            ids = engine.render([{"role": "user", "content": QUESTIONS[key[0]]}])
            t0 = time.perf_counter()
            res = await engine.submit(ids, adapter=key[1], max_tokens=max_tokens).result()
            latencies.append(time.perf_counter() - t0)
            tokens += res.usage.completion_tokens
            answers[key] = res.content

    t0 = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    return {
        "clients": clients,
        "requests": len(lat),
        "wall_s": round(wall, 2),
        "requests_per_s": round(len(lat) / wall, 3),
        "tokens_per_s": round(tokens / wall, 1),
        "latency_p50_s": round(lat[len(lat) // 2], 2),
        "latency_p95_s": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 2),
        "_answers": answers,
    }


def request(j: int) -> tuple[int, str | None]:
    """(question, adapter) of request j: each question goes to a different adapter each round."""
    return j % len(QUESTIONS), [None, "a1", "a2"][(j // len(QUESTIONS) + j) % 3]


def settings(**kw):  # type: ignore[no-untyped-def]
    from tunewise.serve.engine import EngineSettings

    return EngineSettings(**{"max_batch": 16, "max_queue": 256, "timeout_s": 3600, **kw})


QUICK = [("off", 1), ("off", 16), ("on", 1), ("on", 16)]  # --plan quick: 1 and 16 clients only
PLAN = [
    ("off", 1, {"max_batch": 1}),  # first: its answers are the reference (each request alone)
    ("off", 4, {"max_batch": 1}),
    ("off", 16, {"max_batch": 1}),
    ("on", 1, {}),
    ("on", 4, {}),
    ("on", 16, {}),
    ("window", 16, {"continuous": False}),
    ("one_adapter", 16, {"mix_adapters": False}),
]


async def measure(engine, args: argparse.Namespace) -> tuple[list[dict], dict]:  # type: ignore[no-untyped-def]
    runs, reference = [], {}
    plan = [p for p in PLAN if args.plan == "full" or (p[0], p[1]) in QUICK]
    for mode, clients, kw in plan:
        # read by the worker at its next batch
        engine.settings = settings(**kw, device=args.device, dtype=args.dtype)
        run = await load_run(engine, clients, 16 * args.requests, args.max_tokens)
        answers = run.pop("_answers")
        reference = reference or answers
        same = sum(answers[k] == reference[k] for k in answers)
        run.update(mode=mode, identical_to_alone=f"{same}/{len(answers)}")
        runs.append(run)
        print(json.dumps(run), flush=True)
    return runs, reference


async def bench(args: argparse.Namespace) -> dict:
    from tunewise.models import resolve_base
    from tunewise.serve.engine import Engine

    folder = resolve_base("smollm2-135m")
    adapters = make_adapters(folder, Path(tempfile.mkdtemp(prefix="tw-serve-bench-")))
    engine = Engine(
        "smollm2-135m", adapters, settings(max_batch=1, device=args.device, dtype=args.dtype)
    )
    t0 = time.perf_counter()
    await engine.start()
    load_s = time.perf_counter() - t0
    try:
        await load_run(engine, 2, 2, 4)  # warm-up
        runs, reference = await measure(engine, args)
    finally:
        await engine.close()
    by = {(r["mode"], r["clients"]): r for r in runs}
    # Batching off is sequential whatever the clients: the best of its three runs is the
    # baseline (the conservative choice on a machine whose speed drifts between runs).
    base_rate = max(r["requests_per_s"] for r in runs if r["mode"] == "off")
    paired = [i for i, a in reference if a == "a1" and (i, None) in reference]
    differ = sum(reference[(i, None)] != reference[(i, "a1")] for i in paired)
    return {
        "device": engine.device,
        "model_load_s": round(load_s, 2),
        "runs": runs,
        "sequential_requests_per_s": base_rate,
        "speedup_vs_sequential": {
            f"{m}@{c}": round(r["requests_per_s"] / base_rate, 2) for (m, c), r in by.items()
        },
        **(_full_plan_ratios(by) if args.plan == "full" else {}),
        "adapter_a1_answers_differing_from_base": f"{differ}/{len(paired)}",
        "sample_answers": {str(k): v for k, v in list(reference.items())[:3]},
    }


def _full_plan_ratios(by: dict) -> dict:  # type: ignore[type-arg]
    on = by[("on", 16)]
    return {
        "mixed_vs_one_adapter_at_16": round(
            on["requests_per_s"] / by[("one_adapter", 16)]["requests_per_s"], 2
        ),
        "continuous_vs_window_at_16": {
            "throughput": round(on["requests_per_s"] / by[("window", 16)]["requests_per_s"], 2),
            "p95_latency": round(on["latency_p95_s"] / by[("window", 16)]["latency_p95_s"], 2),
        },
    }


def gpu_info() -> dict[str, object]:
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"gpu": torch.cuda.get_device_name(), "cuda": torch.version.cuda}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--requests", type=int, default=2, help="16 x this many requests per run")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a shared, oversubscribed machine two threads ran 10x slower)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument(
        "--plan",
        default="full",
        choices=["full", "quick"],
        help="quick: off/on at 1 and 16 clients",
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    result = {
        "command": " ".join(["python bench/serve_local.py", *sys.argv[1:]]),
        "model": f"smollm2-135m (SmolLM2-135M-Instruct, {args.dtype}) + 2 LoRA adapters (r=16, "
        "all projections)",
        "max_tokens": args.max_tokens,
        **asyncio.run(bench(args)),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        **machine(),
        **gpu_info(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "note": "shared machine: compare ratios within this run, not absolute figures across runs",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
