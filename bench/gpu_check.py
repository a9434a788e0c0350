"""One check of tunewise's GPU path, run as a single command on a CUDA machine.

    python bench/gpu_check.py --out DIR            # on the GPU machine (the full check)
    python bench/gpu_check.py --out DIR --smoke    # the same steps on any machine, cut short

Steps, each in its own subprocess (so each one's device memory and RSS are its own):

  train_auto   `tunewise train` (LoRA, the bundled SmolLM2-135M-Instruct, the support-intent
               example's config and prepared data) with compute_dtype auto: it must pick
               cuda and bfloat16 by itself, and the training loss must fall
  train_fp32   the same with `--set train.compute_dtype=float32`: the baseline on the same GPU
  serve_fp32   bench/serve_local.py on the device: requests/s at 1 and 16 clients, batching
               on vs off (greedy answers compared with each request answered alone)
  serve_bf16   the same with bfloat16 weights

--data is a folder from `tunewise data prepare -c examples/support-intent/tunewise.yaml`.
Writes DIR/gpu_check.json (every figure with the device name and torch version) and a log
per step; exits 1 when a check fails (after writing the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "support-intent" / "tunewise.yaml"


def environment() -> dict[str, object]:
    import peft
    import torch
    import transformers

    env: dict[str, object] = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "python": sys.version.split()[0],
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        env.update(
            gpu=torch.cuda.get_device_name(),
            cuda=torch.version.cuda,
            capability=".".join(map(str, torch.cuda.get_device_capability())),
            bf16_supported=torch.cuda.is_bf16_supported(),
        )
    return env


def run_step(name: str, cmd: list[str], out: Path, timeout: float) -> tuple[int, str, float]:
    """Run one step, its output teed to DIR/NAME.log; (exit code, output, wall seconds)."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=out, env=os.environ
        )
        code, text = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, text = 124, f"{exc.stdout or ''}{exc.stderr or ''}\ntimed out after {timeout} s"
    wall = time.perf_counter() - t0
    (out / f"{name}.log").write_text(text)
    print(f"[{name}] exit {code} in {wall:.1f} s", flush=True)
    return code, text, wall


def train(name: str, args: argparse.Namespace, sets: list[str]) -> dict[str, object]:
    """`tunewise train` with these --set items; its device, dtype, speed and loss curve."""
    adapter = args.out / name
    smoke = ["--set", "train.max_steps=2"] if args.smoke else []
    cmd = [sys.executable, "-m", "tunewise", "train", "--data", str(args.data)]
    cmd += ["--out", str(adapter), "-c", str(CONFIG), *smoke]
    for item in sets:
        cmd += ["--set", item]
    code, text, wall = run_step(name, cmd, args.out, args.timeout)
    res: dict[str, object] = {"command": "tunewise " + " ".join(cmd[3:]), "exit": code}
    res["wall_s"] = round(wall, 1)
    try:
        metrics = json.loads((adapter / "manifest.json").read_text())["metrics"]
        points = json.loads((adapter / "curves.json").read_text())["points"]
    except (OSError, ValueError, KeyError) as exc:
        res["error_tail"] = f"{type(exc).__name__}: {exc}\n{text[-2000:]}"
        return res
    losses = [p["train_loss"] for p in points if p.get("train_loss") is not None]
    res.update(
        device=metrics.get("device"),
        dtype=metrics.get("compute_dtype"),
        tokens_per_s=metrics.get("tokens_per_s"),
        train_time_s=metrics.get("train_time_s"),
        steps=metrics.get("steps"),
        packing=metrics.get("packing"),
        first_train_loss=round(losses[0], 4),
        last_train_loss=round(losses[-1], 4),
        train_loss_curve=[round(x, 3) for x in losses],
        valid_loss=metrics.get("valid_loss") and round(metrics["valid_loss"], 4),
    )
    return res


def serve(name: str, args: argparse.Namespace, dtype: str) -> dict[str, object]:
    """bench/serve_local.py on this device; its JSON, less the sample answers."""
    result = args.out / f"{name}.json"
    cmd = [sys.executable, str(ROOT / "bench" / "serve_local.py"), "--out", str(result)]
    cmd += ["--device", args.device, "--dtype", dtype, "--plan", args.plan]
    cmd += ["--threads", str(args.threads)]
    cmd += ["--requests", str(args.requests), "--max-tokens", "4" if args.smoke else "32"]
    code, text, wall = run_step(name, cmd, args.out, args.timeout)
    if code != 0 or not result.is_file():
        return {"exit": code, "wall_s": round(wall, 1), "error_tail": text[-2000:]}
    data = json.loads(result.read_text())
    data.pop("sample_answers", None)
    return {"exit": code, "wall_s": round(wall, 1), **data}


def checks(res: dict, smoke: bool) -> dict[str, bool]:  # type: ignore[type-arg]
    auto, fp32 = res["train_auto"], res["train_fp32"]
    out = {
        "train_ran": auto.get("exit") == 0 and fp32.get("exit") == 0,
        "serve_ran": all(res[k].get("exit") == 0 for k in ("serve_fp32", "serve_bf16")),
    }
    if not smoke:
        out["auto_picked_cuda"] = str(auto.get("device", "")).startswith("cuda")
        out["auto_picked_bf16"] = auto.get("dtype") == "bfloat16"
        out["loss_fell"] = all(
            r.get("last_train_loss", 1e9) < r.get("first_train_loss", 0) for r in (auto, fp32)
        )
        out["serve_on_cuda"] = all(
            str(res[k].get("device", "")).startswith("cuda") for k in ("serve_fp32", "serve_bf16")
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, required=True, help="a prepared dataset folder")
    ap.add_argument("--out", type=Path, required=True, help="folder for the JSON and logs")
    ap.add_argument("--device", default="auto", help="serving device (auto | cpu | cuda)")
    ap.add_argument("--plan", default="quick", choices=["quick", "full"])
    ap.add_argument("--threads", type=int, default=4, help="torch threads for serving")
    ap.add_argument("--requests", type=int, default=1, help="16 x this many requests per run")
    ap.add_argument("--smoke", action="store_true", help="2 training steps, tiny serving run")
    ap.add_argument("--timeout", type=float, default=240, help="seconds per step")
    args = ap.parse_args()
    args.out = args.out.resolve()
    args.data = args.data.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["TUNEWISE_HOME"] = str(args.out / "state")
    res: dict[str, object] = {"command": " ".join(["python bench/gpu_check.py", *sys.argv[1:]])}
    res["environment"] = environment()
    steps = {
        "train_auto": lambda: train("train_auto", args, []),
        "train_fp32": lambda: train("train_fp32", args, ["train.compute_dtype=float32"]),
        "serve_fp32": lambda: serve("serve_fp32", args, "float32"),
        "serve_bf16": lambda: serve("serve_bf16", args, "bfloat16"),
    }
    for name, step in steps.items():
        res[name] = step()
        save(args.out, res)  # after every step: a run cut short still reports what it did
    tps = [res[k].get("tokens_per_s") for k in ("train_auto", "train_fp32")]  # type: ignore[attr-defined]
    if all(tps):
        res["train_auto_vs_fp32"] = round(tps[0] / tps[1], 2)
    res["checks"] = checks(res, args.smoke)
    save(args.out, res)
    print(json.dumps(res["checks"], indent=2))
    sys.exit(0 if all(res["checks"].values()) else 1)


def save(out: Path, res: dict[str, object]) -> None:
    tmp = out / "gpu_check.json.tmp"
    tmp.write_text(json.dumps(res, indent=2) + "\n")
    tmp.replace(out / "gpu_check.json")


if __name__ == "__main__":
    main()
