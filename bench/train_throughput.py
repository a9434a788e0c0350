"""Training throughput: tunewise's trainer against the two baselines a user would write today.

Same data (Banking77 rows as chat: short system prompt, the query, a JSON answer {"intent": ...}),
same model (SmolLM2-135M-Instruct), same LoRA (r=16, alpha=32, all attention and MLP projections),
batch 8, 1 epoch, same learning rate, loss on the answer tokens only:

  plain_fp32   transformers + PEFT, fp32, rows in random order padded to the longest in each batch
  trl_fp32     TRL SFTTrainer with its defaults (prompt/completion rows, so completion-only loss;
               gradient checkpointing on, as TRL defaults), bf16=False
  trl_bf16     the same with bf16=True (TRL's own default)
  tunewise     tunewise.train (compute_dtype auto, random batches packed without padding and with
               the rows' common prefix run once, loss head on labelled positions only)
  tunewise_unpacked  the same with packing off (length-grouped padded rows): what packing buys

"Trained tokens" = every real (non-padding) token of every training row processed, prompt included,
the same count for all variants; tokens/s = trained tokens / wall time of the training loop alone
(model loading and the final evaluation excluded). Each variant runs in its own subprocess, so the
peak RSS (ru_maxrss) is its own. Validation loss = mean cross-entropy over the answer tokens of the
held-out rows, computed by the same function for every variant after training.

    python bench/train_throughput.py              # 200 train rows, 50 validation rows
    python bench/train_throughput.py --repeat 3   # 3 rounds, order rotated, median tokens/s
    python bench/train_throughput.py --quick      # 40 rows, smoke run

Shared machines drift by tens of percent between minutes; --repeat interleaves the variants so the
ratios hold. Keep other work off the machine while it runs.

Writes bench/results/train_throughput.json (--quick: train_throughput_quick.json). Skips cleanly when the Banking77 CSV is absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine

REPO = Path(__file__).resolve().parents[1]
CSV = (
    Path(os.environ.get("TUNEWISE_BANKING77", REPO.parent / "shared" / "datasets" / "banking77"))
    / "train.csv"
)
RESULTS = REPO / "bench" / "results" / "train_throughput.json"
SYSTEM = 'Classify the banking customer query. Reply with JSON {"intent": <label>}.'
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
BASELINES = ("plain_fp32", "trl_fp32", "trl_bf16")
VARIANTS = ["plain_fp32", "tunewise", "tunewise_unpacked", "trl_fp32", "trl_bf16"]


def make_rows(n_train: int, n_val: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    with open(CSV, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    random.Random(seed).shuffle(rows)

    def chat(r: dict, i: int) -> dict:
        return {
            "id": f"b77-{i}",
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": r["text"]},
                {"role": "assistant", "content": json.dumps({"intent": r["category"]})},
            ],
            "tags": [f"intent:{r['category']}"],
        }

    out = [chat(r, i) for i, r in enumerate(rows[: n_train + n_val])]
    return out[:n_train], out[n_train:]


def valid_loss(model, tok, rows: list[dict]) -> float:
    """Mean CE over answer tokens, full forward, same for every variant."""
    import torch

    from tunewise.train.data import IGNORE, prepare_sft

    exs, _ = prepare_sft(tok, rows, 512, "truncate")
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for e in exs:
            ids = torch.tensor([e.input_ids])
            labels = torch.tensor([e.labels])[:, 1:]
            logits = model(input_ids=ids).logits[:, :-1].float()
            sel = labels != IGNORE
            total += float(
                torch.nn.functional.cross_entropy(logits[sel], labels[sel], reduction="sum")
            )
            count += int(sel.sum())
    return total / count


def run_variant(name: str, train: list[dict], val: list[dict], lr: float, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    from tunewise.models import resolve_base

    base = resolve_base("smollm2-135m")
    if name == "plain_fp32":
        res = _plain(base, train, lr)
    elif name.startswith("trl"):
        res = _trl(base, train, lr, bf16=name.endswith("bf16"))
    else:
        res = _tunewise(base, train, val, lr, threads, packing=name == "tunewise")
    model, tok = res.pop("model"), res.pop("tokenizer")
    res["valid_loss"] = round(valid_loss(model, tok, val), 4)
    import resource

    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    res["tokens_per_s"] = round(res["tokens"] / res["train_s"], 1)
    return res


def _lora():
    from peft import LoraConfig

    return LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.0, target_modules=TARGETS, task_type="CAUSAL_LM"
    )


def _plain(base: Path, train: list[dict], lr: float) -> dict:
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunewise.train.data import collate, prepare_sft

    tok = AutoTokenizer.from_pretrained(base)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), _lora())
    model.train()
    exs, _ = prepare_sft(tok, train, 512, "truncate")
    order = list(range(len(exs)))
    random.Random(0).shuffle(order)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    steps = (len(exs) + 7) // 8
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
    tokens, t0 = 0, time.perf_counter()
    for i in range(0, len(order), 8):
        b = collate([exs[j] for j in order[i : i + 8]], tok.pad_token_id)
        out = model(
            input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]
        )
        out.loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
        tokens += b["n_tokens"]
    return {
        "model": model,
        "tokenizer": tok,
        "tokens": tokens,
        "train_s": time.perf_counter() - t0,
        "padding_fraction": None,
        "steps": steps,
    }


def _trl(base: Path, train: list[dict], lr: float, bf16: bool) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(base)
    ds = Dataset.from_list(
        [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in train]
    )
    with tempfile.TemporaryDirectory() as tmp:
        args = SFTConfig(
            output_dir=tmp,
            use_cpu=True,
            bf16=bf16,
            per_device_train_batch_size=8,
            num_train_epochs=1,
            learning_rate=lr,
            save_strategy="no",
            report_to=[],
            logging_steps=1000,
            disable_tqdm=True,
        )
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        trainer = SFTTrainer(
            model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=_lora()
        )
        tokens = sum(len(x) for x in trainer.train_dataset["input_ids"])
        t0 = time.perf_counter()
        trainer.train()
        elapsed = time.perf_counter() - t0
    return {
        "model": trainer.model,
        "tokenizer": tok,
        "tokens": tokens,
        "train_s": elapsed,
        "steps": trainer.state.global_step,
        "gradient_checkpointing": args.gradient_checkpointing,
    }


def _tunewise(
    base: Path, train: list[dict], val: list[dict], lr: float, threads: int, packing: bool
) -> dict:
    from tunewise.train.config import TrainConfig
    from tunewise.train.trainer import RunContext, run_sft

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, rows in (("train", train), ("validation", val)):
            (d / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        cfg = TrainConfig(
            epochs=1,
            learning_rate=lr,
            batch_size=8,
            warmup_ratio=0.0,
            num_threads=threads,
            packing=packing,
            lora={"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": TARGETS},
        )
        res = run_sft(
            RunContext(None, None, progress=False),
            data_dir=d,
            base_folder=base,
            out=d / "out",
            cfg=cfg,
            resume=False,
        )
    m = res["metrics"]
    return {
        "model": res["model"],
        "tokenizer": res["tokenizer"],
        "tokens": res["tokens"],
        "train_s": m["train_time_s"],
        "steps": m["steps"],
        "padding_fraction": m["padding_fraction"],
        "shared_prefix_fraction": m["shared_prefix_fraction"],
        "packing": m["packing"],
        "compute_dtype": m["compute_dtype"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="40 train rows, 16 validation rows")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of all variants, order rotated each round; the median tokens/s is reported",
    )
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--rows-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:  # child process
        data = json.loads(Path(args.rows_file).read_text())
        print(
            "RESULT "
            + json.dumps(
                run_variant(args.variant, data["train"], data["val"], args.lr, args.threads)
            )
        )
        return
    if not CSV.is_file():
        print(f"skipped: {CSV} not found")
        return
    global RESULTS
    from tunewise.train.modeling import cpu_has_native_bf16

    if args.quick:  # a smoke run never overwrites the full figures
        RESULTS = RESULTS.with_name("train_throughput_quick.json")
    n_train, n_val = (40, 16) if args.quick else (200, 50)
    train, val = make_rows(n_train, n_val)
    results: dict = {
        "machine": {**machine(), "native_bf16": cpu_has_native_bf16()},
        "rows": {"train": n_train, "validation": n_val},
        "lr": args.lr,
        "threads": args.threads,
        "quick": args.quick,
        "repeat": args.repeat,
        "variants": {},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"train": train, "val": val}, fh)
    names = args.variants.split(",")
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for rnd in range(args.repeat):
        order = names[rnd % len(names) :] + names[: rnd % len(names)]  # rotate: drift hits all
        for name in order:
            r = _run_child(name, fh.name, args)
            runs[name].append(r)
            results["variants"][name] = _combine(runs[name])
            _save(results)
            if "error" in r:
                print(f"{name}: FAILED\n{r['error']}", file=sys.stderr)
                continue
            print(
                f"round {rnd + 1} {name:11s} {r['tokens_per_s']:8.1f} tok/s  valid_loss {r['valid_loss']:.4f}  "
                f"peak {r['peak_rss_mb']:.0f} MB  load {r['load_avg_1m']}",
                flush=True,
            )
    os.unlink(fh.name)
    _summarize(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


def _run_child(name: str, rows_file: str, args: argparse.Namespace) -> dict:
    load_before = os.getloadavg()[0]
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--variant",
            name,
            "--rows-file",
            rows_file,
            "--lr",
            str(args.lr),
            "--threads",
            str(args.threads),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        return {"error": proc.stderr[-2000:]}
    r = json.loads(line[7:])
    r["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return r


def _combine(runs: list[dict]) -> dict:
    """One variant over its rounds: the median tokens/s, every round's figure kept."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    out = dict(ok[-1])
    out["tokens_per_s"] = round(statistics.median(r["tokens_per_s"] for r in ok), 1)
    out["tokens_per_s_runs"] = [r["tokens_per_s"] for r in ok]
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
    out["load_avg_1m"] = [r["load_avg_1m"] for r in ok]
    return out


def _summarize(results: dict) -> None:
    v = results["variants"]
    baselines = [v[k]["tokens_per_s"] for k in BASELINES if "tokens_per_s" in v.get(k, {})]
    if "tokens_per_s" in v.get("tunewise", {}) and baselines:
        results["speedup_vs_faster_baseline"] = round(
            v["tunewise"]["tokens_per_s"] / max(baselines), 2
        )
        results["speedup_vs_each"] = {
            k: round(v["tunewise"]["tokens_per_s"] / v[k]["tokens_per_s"], 2)
            for k in v
            if k != "tunewise" and "tokens_per_s" in v[k]
        }
        print(f"tunewise vs faster baseline: {results['speedup_vs_faster_baseline']}x")


def _save(results: dict) -> None:
    """Written after every variant, so a long run interrupted still leaves its figures."""
    _summarize(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
