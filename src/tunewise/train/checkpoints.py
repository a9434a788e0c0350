"""SFT checkpoints: trained weights, optimizer, scheduler, RNG and progress in one `state.pt`.

A checkpoint folder is written under a temporary name and renamed, then recorded in the job store;
only the last `keep` stay. `restore` puts the newest one back so the run continues exactly where it
stopped (same data order, same optimizer moments, same random draws).
"""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tunewise.errors import JobError
from tunewise.train.context import RunContext, TrainState

CKPT_FILE = "state.pt"


def seed_all(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def save(
    ctx: RunContext,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    state: TrainState,
    ckpt_dir: Path,
    keep: int,
) -> None:
    """Write `ckpt_dir/step-NNNNNNN`, record it in the job store, drop the ones beyond `keep`."""
    if not ctx.main:
        return
    import torch

    from tunewise.train.modeling import trainable_state

    path = ckpt_dir / f"step-{state.step:07d}"
    tmp = path.with_name(path.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "weights": trainable_state(model),
            "best": getattr(model, "_tunewise_best", None),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": _rng_state(),
            "state": asdict(state),
        },
        tmp / CKPT_FILE,
    )
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    if ctx.store and ctx.job_id:
        last = state.history[-1] if state.history else {}
        metrics = {k: last.get(k) for k in ("train_loss", "valid_loss")}
        ctx.store.add_checkpoint(ctx.job_id, state.step, str(path), {"step": state.step, **metrics})
        cks = ctx.store.checkpoints(ctx.job_id)
        for old in cks[: max(0, len(cks) - keep)]:
            shutil.rmtree(old.path, ignore_errors=True)
            ctx.store.drop_checkpoint(old.id)
        ctx.event(f"checkpoint at step {state.step}: {path}")


def restore(ctx: RunContext, model: Any, optimizer: Any, scheduler: Any) -> TrainState:
    """Load the job's newest checkpoint into model, optimizer, scheduler and RNG; returns its state."""
    import numpy as np
    import torch

    from tunewise.train.modeling import load_trainable_state

    cks = [
        c
        for c in (ctx.store.checkpoints(ctx.job_id) if ctx.store and ctx.job_id else [])
        if (Path(c.path) / CKPT_FILE).is_file()
    ]
    if not cks:
        raise JobError(
            f"job {ctx.job_id} has no checkpoint to resume from; start a new run instead"
        )
    # Onto the CPU first: a checkpoint written on a GPU then resumes on a machine without one
    # (load_state_dict moves each tensor to its parameter's device).
    ck = torch.load(Path(cks[-1].path) / CKPT_FILE, weights_only=False, map_location="cpu")
    load_trainable_state(model, ck["weights"])
    if ck.get("best") is not None:
        model._tunewise_best = ck["best"]
    optimizer.load_state_dict(ck["optimizer"])
    scheduler.load_state_dict(ck["scheduler"])
    random.setstate(ck["rng"]["python"])
    np.random.set_state(ck["rng"]["numpy"])
    torch.set_rng_state(ck["rng"]["torch"])
    cuda_rng = ck["rng"].get("cuda")  # dropout on a GPU draws from the CUDA generators
    if cuda_rng and torch.cuda.is_available() and len(cuda_rng) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_rng)
    known = TrainState.__dataclass_fields__  # checkpoints of older releases lack newer fields
    return TrainState(**{k: v for k, v in ck["state"].items() if k in known})


def _rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
