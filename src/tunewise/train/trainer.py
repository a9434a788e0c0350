"""The local SFT loop (LoRA, QLoRA, full): setup, train with checkpoints and evals, write the adapter.

Reads top to bottom as one story: `run_sft` loads data and model, restores a checkpoint if resuming,
runs epochs of packed batches (loss on assistant tokens only), evaluates, checkpoints,
polls for cancellation, then writes the adapter folder, curves and manifest.

Data-parallel: under `accelerate launch` (WORLD_SIZE > 1) each process trains on its share of the
batches and Accelerate averages gradients (gloo on CPU, NCCL on GPUs); rank 0 alone writes.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunewise.errors import DataError, JobError
from tunewise.train import data as D
from tunewise.train.config import TrainConfig
from tunewise.train.jobs import JobStore
from tunewise.train.packing import pack

CKPT_FILE = "state.pt"


@dataclass
class TrainState:
    """Everything about progress that a checkpoint must carry besides weights and optimizer."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens: int = 0
    positions: int = 0
    shared_tokens: int = 0
    best_valid: float | None = None
    bad_evals: int = 0
    train_time_s: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunContext:
    """Who is running: the job (None on non-zero ranks), the store, the accelerator if distributed."""

    job_id: str | None
    store: JobStore | None
    progress: bool = True
    accelerator: Any = None

    @property
    def main(self) -> bool:
        return self.accelerator is None or self.accelerator.is_main_process

    def event(
        self,
        message: str,
        level: str = "info",
        type: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        if self.main and self.store and self.job_id:
            self.store.event(self.job_id, message, level=level, type=type, data=data)


def run_sft(
    ctx: RunContext, *, data_dir: Path, base_folder: Path, out: Path, cfg: TrainConfig, resume: bool
) -> dict[str, Any]:
    """Train and write `out`; returns the result (metrics, counts, paths). Raises JobError if cancelled."""
    import torch

    from tunewise.train import modeling as M

    torch.set_num_threads(cfg.num_threads or M.default_threads())
    device = (
        str(ctx.accelerator.device)
        if ctx.accelerator
        else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    dtype = M.pick_dtype(cfg, device)
    _seed_all(cfg.seed)

    # -- data --------------------------------------------------------------------------------
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base_folder)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    train_rows = D.read_rows(data_dir / "train.jsonl")
    val_path = data_dir / "validation.jsonl"
    val_rows = D.read_rows(val_path) if val_path.is_file() else []
    train_ex, train_rep = D.prepare_sft(tok, train_rows, cfg.max_length, cfg.excess_length)
    val_ex, val_rep = D.prepare_sft(tok, val_rows, cfg.max_length, cfg.excess_length)
    if not train_ex:
        raise DataError(
            f"{data_dir / 'train.jsonl'}: no trainable rows after tokenization ({train_rep.as_dict()})"
        )
    for name, rep in (("train", train_rep), ("validation", val_rep)):
        level = "warn" if rep.dropped or rep.truncated or rep.no_loss_tokens else "info"
        ctx.event(
            f"{name}: {rep.kept}/{rep.rows} rows kept, {rep.truncated} truncated, {rep.dropped} dropped "
            f"over max_length {cfg.max_length}, {rep.no_loss_tokens} without trained tokens",
            level=level,
            data=rep.as_dict(),
        )
    if not val_ex:
        ctx.event("no validation rows: no validation loss, no early stopping", level="warn")
    epochs = D.auto_epochs(len(train_ex)) if cfg.epochs == "auto" else int(cfg.epochs)
    world = ctx.accelerator.num_processes if ctx.accelerator else 1
    rank = ctx.accelerator.process_index if ctx.accelerator else 0
    micro_per_epoch = math.ceil(len(train_ex) / cfg.batch_size) // world
    steps_per_epoch = max(1, math.ceil(micro_per_epoch / cfg.gradient_accumulation))
    total_steps = min(cfg.max_steps or 10**12, epochs * steps_per_epoch)

    # -- model, optimizer, schedule ------------------------------------------------------------
    model = M.load_trainable(base_folder, cfg, device, dtype)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    warmup = int(cfg.warmup_ratio * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: _lr_factor(s, warmup, total_steps)
    )
    loss_mod = M.make_loss_module(model)
    if ctx.accelerator:
        loss_mod, optimizer = ctx.accelerator.prepare(loss_mod, optimizer)
    packing = cfg.packing and M.supports_packing(model, cfg.max_length)
    if cfg.packing and not packing:
        ctx.event(
            "packing off: this model's attention kernel or sliding window rules out custom masks",
            level="warn",
        )

    def batch(examples: list[D.Example]) -> dict[str, Any]:
        return pack(examples, pad_id) if packing else D.collate(examples, pad_id)

    def loss_of(b: dict[str, Any]) -> tuple[Any, Any]:
        return loss_mod(
            b["input_ids"].to(device),
            b["attention_mask"].to(device),
            b["targets"].to(device),
            b["position_ids"].to(device) if "position_ids" in b else None,
        )

    autocast = torch.autocast(
        device.split(":")[0], dtype=torch.bfloat16, enabled=dtype == "bfloat16"
    )

    state = TrainState()
    ckpt_dir = out / "checkpoints"
    if resume:
        state = _restore(ctx, model, optimizer, scheduler)
    ctx.event(
        f"training {cfg.method} on {len(train_ex)} rows ({train_rep.tokens} tokens), {epochs} epochs, "
        f"{total_steps} steps, {dtype} compute on {device} x{world}"
        + (f", resumed at step {state.step}" if resume else ""),
        data={
            "epochs": epochs,
            "total_steps": total_steps,
            "dtype": dtype,
            "device": device,
            "world_size": world,
        },
    )
    tracker = _tracker(cfg, data_dir, ctx)

    def evaluate() -> float | None:
        if not val_ex:
            return None
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad(), autocast:
            order = sorted(range(len(val_ex)), key=lambda i: len(val_ex[i].input_ids))
            for i in range(0, len(order), cfg.batch_size * 2):
                s, n = loss_of(batch([val_ex[j] for j in order[i : i + cfg.batch_size * 2]]))
                total, count = total + float(s), count + int(n)
        model.train()
        return total / max(1, count)

    # -- the loop ------------------------------------------------------------------------------
    stop_reason = None
    run_loss, run_n = 0.0, 0
    progress = _progress(ctx.progress and ctx.main)
    task = progress.add_task(
        "train", total=total_steps, completed=state.step, loss=float("nan"), tps=0.0
    )
    t_start = time.perf_counter()
    t0_time = state.train_time_s
    with progress:
        while state.epoch < epochs and state.step < total_steps and stop_reason is None:
            seed = cfg.seed + state.epoch
            batches = (
                D.shuffled_batches(len(train_ex), cfg.batch_size, seed)
                if packing
                else D.length_grouped_batches(
                    [len(e.input_ids) for e in train_ex], cfg.batch_size, seed
                )
            )
            batches = batches[: micro_per_epoch * world][rank::world]
            groups = [
                batches[i : i + cfg.gradient_accumulation]
                for i in range(0, len(batches), cfg.gradient_accumulation)
            ]
            for gi in range(state.batch_in_epoch, len(groups)):
                micro = [batch([train_ex[j] for j in b]) for b in groups[gi]]
                n_loss = sum(m["n_loss"] for m in micro)
                step_loss = 0.0
                for m in micro:
                    with autocast:
                        s, _n = loss_of(m)
                    loss = s / n_loss
                    if ctx.accelerator:
                        ctx.accelerator.backward(loss)
                    else:
                        loss.backward()
                    step_loss += float(s.detach())
                if cfg.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state.step += 1
                state.batch_in_epoch = gi + 1
                state.tokens += sum(m["n_tokens"] for m in micro) * world
                state.positions += sum(m["n_positions"] for m in micro) * world
                state.shared_tokens += sum(m["n_shared"] for m in micro) * world
                run_loss, run_n = run_loss + step_loss, run_n + n_loss
                state.train_time_s = t0_time + time.perf_counter() - t_start
                tps = state.tokens / max(state.train_time_s, 1e-9)
                progress.update(task, completed=state.step, loss=step_loss / n_loss, tps=tps)
                point: dict[str, Any] = {
                    "step": state.step,
                    "epoch": state.epoch,
                    "train_loss": step_loss / n_loss,
                    "tokens": state.tokens,
                }
                last_in_epoch = gi == len(groups) - 1
                if (cfg.eval_interval and state.step % cfg.eval_interval == 0) or (
                    last_in_epoch and not cfg.eval_interval
                ):
                    stop_reason = _after_eval(ctx, model, state, point, evaluate(), cfg)
                state.history.append(point)
                if point.get("valid_loss") is not None or state.step % 10 == 0 or state.step == 1:
                    ctx.event(
                        f"Step {state.step}/{total_steps}: training loss={point['train_loss']:.4f}"
                        + (
                            f", validation loss={point['valid_loss']:.4f}"
                            if point.get("valid_loss") is not None
                            else ""
                        ),
                        type="metrics",
                        data={
                            "step": state.step,
                            "train_loss": point["train_loss"],
                            "valid_loss": point.get("valid_loss"),
                            "total_steps": total_steps,
                            "tokens": state.tokens,
                            "tokens_per_s": round(tps, 1),
                        },
                    )
                    if tracker:
                        tracker(point)
                if last_in_epoch:
                    state.epoch += 1
                    state.batch_in_epoch = 0
                if last_in_epoch or (
                    cfg.checkpoint_steps and state.step % cfg.checkpoint_steps == 0
                ):
                    _checkpoint(
                        ctx, model, optimizer, scheduler, state, ckpt_dir, cfg.keep_checkpoints
                    )
                if _cancelled(ctx):
                    stop_reason = "cancelled"
                if stop_reason or state.step >= total_steps:
                    break
    if stop_reason == "cancelled":
        raise JobError("cancelled")
    if state.history and state.history[-1].get("valid_loss") is None and val_ex:
        state.history[-1]["valid_loss"] = evaluate()  # final validation loss, always reported
        _after_eval(ctx, model, state, {}, state.history[-1]["valid_loss"], cfg)
    best = getattr(model, "_tunewise_best", None)
    if (
        best is not None
        and state.history
        and state.history[-1].get("valid_loss") != state.best_valid
    ):
        M.load_trainable_state(model, best)
        ctx.event(f"restored the weights with the best validation loss ({state.best_valid:.4f})")
    metrics = {
        "train_loss": run_loss / max(1, run_n),
        "final_train_loss": state.history[-1]["train_loss"] if state.history else None,
        "valid_loss": state.best_valid,
        "final_valid_loss": next(
            (p["valid_loss"] for p in reversed(state.history) if p.get("valid_loss") is not None),
            None,
        ),
        "steps": state.step,
        "total_steps": total_steps,
        "epochs": epochs,
        "epochs_completed": state.epoch,
        "stopped_early": stop_reason == "early_stopping",
        "tokens_per_s": round(state.tokens / max(state.train_time_s, 1e-9), 1),
        "train_time_s": round(state.train_time_s, 2),
        "padding_fraction": round(
            1 - (state.tokens - state.shared_tokens) / max(1, state.positions), 4
        ),
        "shared_prefix_fraction": round(state.shared_tokens / max(1, state.tokens), 4),
        "packing": packing,
        "compute_dtype": dtype,
        "world_size": world,
        "length": {"train": train_rep.as_dict(), "validation": val_rep.as_dict()},
    }
    return {
        "model": model,
        "tokenizer": tok,
        "metrics": metrics,
        "tokens": state.tokens,
        "history": state.history,
        "epochs": epochs,
    }


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return max(0.0, (total - step) / max(1, total - warmup))


def _after_eval(
    ctx: RunContext,
    model: Any,
    state: TrainState,
    point: dict[str, Any],
    valid: float | None,
    cfg: TrainConfig,
) -> str | None:
    if valid is None:
        return None
    point["valid_loss"] = valid
    if state.best_valid is None or valid < state.best_valid:
        from tunewise.train.modeling import trainable_state

        state.best_valid, state.bad_evals = valid, 0
        model._tunewise_best = trainable_state(model)
        return None
    state.bad_evals += 1
    if cfg.early_stopping_patience and state.bad_evals >= cfg.early_stopping_patience:
        ctx.event(
            f"early stopping at step {state.step}: validation loss {valid:.4f} above the best "
            f"{state.best_valid:.4f} for {state.bad_evals} evaluations",
            level="warn",
        )
        return "early_stopping"
    return None


def _cancelled(ctx: RunContext) -> bool:
    flag = bool(ctx.main and ctx.store and ctx.job_id and ctx.store.cancel_requested(ctx.job_id))
    if ctx.accelerator and ctx.accelerator.num_processes > 1:
        import torch

        t = torch.tensor([int(flag)], device=ctx.accelerator.device)
        t = ctx.accelerator.reduce(t, reduction="sum")
        flag = bool(t.item())
    return flag


def _seed_all(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }


def _checkpoint(
    ctx: RunContext,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    state: TrainState,
    ckpt_dir: Path,
    keep: int,
) -> None:
    """Weights being trained, optimizer, scheduler, RNG and progress; keeps the last `keep`."""
    if not ctx.main:
        return
    import torch

    from tunewise.train.modeling import trainable_state

    path = ckpt_dir / f"step-{state.step:07d}"
    tmp = path.with_name(path.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    best = getattr(model, "_tunewise_best", None)
    torch.save(
        {
            "weights": trainable_state(model),
            "best": best,
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
        ctx.store.add_checkpoint(
            ctx.job_id,
            state.step,
            str(path),
            {
                "step": state.step,
                "train_loss": last.get("train_loss"),
                "valid_loss": last.get("valid_loss"),
            },
        )
        cks = ctx.store.checkpoints(ctx.job_id)
        for old in cks[: max(0, len(cks) - keep)]:
            shutil.rmtree(old.path, ignore_errors=True)
            ctx.store.drop_checkpoint(old.id)
        ctx.event(f"checkpoint at step {state.step}: {path}")


def _restore(ctx: RunContext, model: Any, optimizer: Any, scheduler: Any) -> TrainState:
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
    ck = torch.load(Path(cks[-1].path) / CKPT_FILE, weights_only=False)
    load_trainable_state(model, ck["weights"])
    if ck.get("best") is not None:
        model._tunewise_best = ck["best"]
    optimizer.load_state_dict(ck["optimizer"])
    scheduler.load_state_dict(ck["scheduler"])
    random.setstate(ck["rng"]["python"])
    np.random.set_state(ck["rng"]["numpy"])
    torch.set_rng_state(ck["rng"]["torch"])
    known = TrainState.__dataclass_fields__
    return TrainState(**{k: v for k, v in ck["state"].items() if k in known})


def _progress(enabled: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from tunewise.cli._console import err_console

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[tps]:.0f} tok/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        disable=not enabled,
        transient=False,
    )


def _tracker(cfg: TrainConfig, data_dir: Path, ctx: RunContext) -> Any:
    """A callable logging one point to MLflow or W&B, or None. Their packages are imported only here."""
    if cfg.tracking == "none" or not ctx.main:
        return None
    from tunewise.errors import require

    project = cfg.tracking_project or data_dir.name
    if cfg.tracking == "mlflow":
        mlflow = require("mlflow", "train", "MLflow tracking")
        mlflow.set_experiment(project)
        mlflow.start_run(run_name=ctx.job_id)
        mlflow.log_params({k: str(v) for k, v in cfg.model_dump().items()})
        return lambda p: mlflow.log_metrics(
            {k: v for k, v in p.items() if isinstance(v, float)}, step=p["step"]
        )
    wandb = require("wandb", "train", "Weights & Biases tracking")
    run = wandb.init(project=project, name=ctx.job_id, config=cfg.model_dump())
    return lambda p: run.log({k: v for k, v in p.items() if isinstance(v, float)}, step=p["step"])
