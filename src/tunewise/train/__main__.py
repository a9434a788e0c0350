"""`python -m tunewise.train`: the training entry point for `accelerate launch` (data-parallel).

    accelerate launch --num_processes 2 --cpu -m tunewise.train --data DATASET_DIR --base MODEL --out DIR

Every process trains on its share of each epoch's batches; gradients are averaged by Accelerate
(gloo on CPU, NCCL on GPUs). Rank 0 records the job in the job store and writes the output folder.
Without a launcher it runs as a single process, like `tunewise train`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunewise.train.config import TrainConfig

# The flags this launcher takes besides --set, with the config key each sets (the same keys as
# `tunewise train`'s flags; a test checks they agree).
FLAGS = {
    "--base": ("train.base", str, "base model"),
    "--method": ("train.method", str, "lora or full"),
    "--epochs": ("train.epochs", str, "epochs, or auto"),
    "--max-steps": ("train.max_steps", int, "stop after this many optimizer steps"),
    "--batch-size": ("train.batch_size", int, "rows per process per micro-batch"),
    "--lr": ("train.learning_rate", float, "peak learning rate"),
    "--threads": ("train.num_threads", int, "torch threads per process"),
}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m tunewise.train", description=(__doc__ or "").split("\n")[0]
    )
    ap.add_argument(
        "--data", type=Path, required=True, help="dataset folder (tunewise data prepare)"
    )
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--config", type=Path, default=None, help="tunewise.yaml (train: section)")
    for flag, (path, kind, text) in FLAGS.items():
        ap.add_argument(flag, type=kind, default=None, help=f"{text} (sets {path})")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="set any config key, e.g. --set train.lora.r=8 (repeatable; VALUE is YAML)",
    )
    return ap


def _config(args: argparse.Namespace) -> TrainConfig:
    """The train: section from the file, --set and the flags, validated together."""
    from tunewise.config import load_config, parse_assignments
    from tunewise.errors import ConfigError

    overrides = parse_assignments(args.set)
    for flag, (path, _kind, _text) in FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is None:
            continue
        if path in overrides:
            raise ConfigError(f"{path}: set by {flag} and by --set; give it once")
        overrides[path] = int(value) if path == "train.epochs" and value.isdigit() else value
    cfg = load_config(args.config, overrides).train
    if cfg.method not in ("lora", "full"):
        raise ConfigError(
            f"train.method: {cfg.method} is not run by this launcher; use lora or full"
        )
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    from tunewise.train.jobs import JobStore
    from tunewise.train.run import train_folder, validate_files
    from tunewise.train.trainer import RunContext

    cfg = _config(args)
    accelerator = None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch
        from accelerate import Accelerator

        accelerator = Accelerator(cpu=not torch.cuda.is_available())
    main_rank = accelerator is None or accelerator.is_main_process
    store = JobStore() if main_rank else None
    job_id = None
    if store:
        validate_files(args.data, cfg.method)
        job = store.create(
            method=cfg.method,
            base=cfg.base,
            data=str(args.data.resolve()),
            out=str(args.out.resolve()),
            config=cfg.model_dump(mode="json"),
            backend="local-accelerate",
        )
        job_id = job.id
        store.set_status(job_id, "running", pid=os.getpid())
    ctx = RunContext(
        job_id, store, progress=main_rank and sys.stderr.isatty(), accelerator=accelerator
    )
    try:
        result = train_folder(ctx, args.data, args.out, cfg)
    except BaseException as exc:
        if store and job_id:
            store.set_status(
                job_id,
                "failed",
                error={"code": type(exc).__name__, "message": str(exc), "param": None},
            )
        raise
    if store and job_id:
        store.set_status(
            job_id, "succeeded", result=result, trained_tokens=result["tokens_trained"]
        )
        world = accelerator.num_processes if accelerator else 1
        m = result["metrics"]
        print(
            f"job {job_id} succeeded on {world} process(es): {args.out}; steps {m['steps']}, "
            f"valid loss {m['valid_loss']}, {m['tokens_per_s']} tokens/s"
        )
    if accelerator:
        accelerator.wait_for_everyone()
        accelerator.end_training()
    return 0


if __name__ == "__main__":
    from tunewise.errors import TunewiseError

    try:
        sys.exit(main())
    except TunewiseError as exc:  # user input: a message and the exit code, no traceback
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)
