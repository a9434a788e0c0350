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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tunewise.train", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--base", default=None)
    ap.add_argument("--method", default=None, choices=["lora", "full"])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--config", type=Path, default=None, help="tunewise.yaml (train: section)")
    ap.add_argument("--epochs", default=None)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None, help="rows per process per micro-batch")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads per process")
    args = ap.parse_args(argv)

    from tunewise.cli.train_cmd import build_config
    from tunewise.train.jobs import JobStore
    from tunewise.train.run import train_folder, validate_files
    from tunewise.train.trainer import RunContext

    flags = {
        "epochs": args.epochs,
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "threads": args.threads,
    }
    cfg = build_config(args.config, args.base, args.method, flags)
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
    sys.exit(main())
