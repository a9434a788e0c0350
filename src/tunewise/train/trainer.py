"""The local SFT loop (LoRA, QLoRA, full), told as one story in `run_sft`.

Tokenize the dataset folder (loss on assistant tokens only), plan epochs and steps, build the model
with its optimizer and schedule, put the last checkpoint back when resuming, train step by step
(evaluating, checkpointing and polling for cancellation as it goes), then restore the best weights
and report. `run.train_folder` writes the adapter folder from what `run_sft` returns.

Data-parallel: under `accelerate launch` (WORLD_SIZE > 1) each process trains on its share of the
batches and Accelerate averages gradients (gloo on CPU, NCCL on GPUs); rank 0 alone writes.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise.errors import DataError, JobError
from tunewise.train import checkpoints as C
from tunewise.train import data as D
from tunewise.train import reporting
from tunewise.train.config import TrainConfig
from tunewise.train.context import RunContext, TrainState
from tunewise.train.engine import Engine

__all__ = ["RunContext", "TrainState", "run_sft"]


def run_sft(
    ctx: RunContext, *, data_dir: Path, base_folder: Path, out: Path, cfg: TrainConfig, resume: bool
) -> dict[str, Any]:
    """Train; returns the model, tokenizer, metrics, token count and loss curve. JobError if cancelled."""
    device, dtype = _setup(ctx, cfg)
    data = _load_data(ctx, data_dir, base_folder, cfg)
    plan = _plan(cfg, len(data.train), data.n_task, ctx.accelerator)
    engine = Engine.build(ctx, base_folder, cfg, plan.total_steps, device, dtype, data.pad_id)
    state = TrainState()
    if resume:
        state = C.restore(ctx, engine.model, engine.optimizer, engine.scheduler)
    ctx.event(
        f"training {cfg.method} on {len(data.train)} rows ({data.train_rep.tokens} tokens), "
        f"{plan.epochs} epochs, {plan.total_steps} steps, {dtype} compute on {device} x{plan.world}"
        + (f", resumed at step {state.step}" if resume else ""),
        data={
            "epochs": plan.epochs,
            "total_steps": plan.total_steps,
            "dtype": dtype,
            "device": device,
            "world_size": plan.world,
            "resumed_at_step": state.step if resume else None,
        },
    )
    stop = _train(ctx, engine, data, plan, state, cfg, data_dir, out / "checkpoints")
    if stop == "cancelled":
        raise JobError("cancelled")
    _finish(ctx, engine, data.val, state, cfg)
    return {
        "model": engine.model,
        "tokenizer": data.tok,
        "metrics": _metrics(engine, data, plan, state, stop),
        "tokens": state.tokens,
        "history": state.history,
        "epochs": plan.epochs,
    }


def _setup(ctx: RunContext, cfg: TrainConfig) -> tuple[str, str]:
    """Threads, device, compute dtype and seeds; returns (device, dtype)."""
    import torch

    from tunewise.train import modeling as M

    torch.set_num_threads(cfg.num_threads or M.default_threads())
    if ctx.accelerator:
        device = str(ctx.accelerator.device)
    else:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    C.seed_all(cfg.seed)  # before the model is built: LoRA's initial weights are random
    return device, M.pick_dtype(cfg, device)


@dataclass
class _Data:
    tok: Any
    pad_id: int
    train: list[D.Example]
    val: list[D.Example]
    train_rep: D.LengthReport
    val_rep: D.LengthReport
    n_task: int
    """Task rows in `train` (the rest are rehearsal rows); epochs: auto counts these."""
    rehearsal: dict[str, Any]


def _load_data(ctx: RunContext, data_dir: Path, base_folder: Path, cfg: TrainConfig) -> _Data:
    """Tokenize train.jsonl (plus rehearsal rows) and validation.jsonl, reporting what max_length
    did to each."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base_folder)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    val_path = data_dir / "validation.jsonl"
    train_rows = D.read_rows(data_dir / "train.jsonl")
    val_rows = D.read_rows(val_path) if val_path.is_file() else []
    extra, rehearsal = _rehearsal(ctx, base_folder, cfg, len(train_rows))
    train, train_rep = D.prepare_sft(tok, train_rows, cfg.max_length, cfg.excess_length)
    val, val_rep = D.prepare_sft(tok, val_rows, cfg.max_length, cfg.excess_length)
    if not train:
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
    if not val:
        ctx.event("no validation rows: no validation loss, no early stopping", level="warn")
    n_task = len(train)
    if extra:  # after the task rows, so the report above is the task data's own
        mixed, rep = D.prepare_sft(tok, extra, cfg.max_length, cfg.excess_length)
        train += mixed
        rehearsal["length"] = rep.as_dict()
    return _Data(tok, pad_id, train, val, train_rep, val_rep, n_task, rehearsal)


def _rehearsal(
    ctx: RunContext, base_folder: Path, cfg: TrainConfig, n_task: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The base model's own answers to mix in (rank 0 generates what the cache lacks)."""
    from tunewise.train.rehearsal import rehearsal_rows

    if not cfg.rehearsal.enabled or cfg.rehearsal.share == 0:
        return [], {"enabled": False}
    if ctx.main:
        rows, report = rehearsal_rows(base_folder, cfg.rehearsal, n_task, log=ctx.event)
    if ctx.accelerator is not None:
        ctx.accelerator.wait_for_everyone()  # the other ranks read what rank 0 cached
    if not ctx.main:
        rows, report = rehearsal_rows(base_folder, cfg.rehearsal, n_task, generate=False)
    return rows, {"enabled": True, **report}


@dataclass
class _Plan:
    """Epochs and optimizer steps, and this process's share of each epoch's micro-batches."""

    epochs: int
    world: int
    rank: int
    micro_per_epoch: int
    total_steps: int

    def step_groups(
        self, epoch: int, cfg: TrainConfig, train: list[D.Example], packing: bool
    ) -> list[list[list[int]]]:
        """This epoch's micro-batches (row indices) for this rank, grouped by optimizer step."""
        seed = cfg.seed + epoch
        if packing:
            batches = D.shuffled_batches(len(train), cfg.batch_size, seed)
        else:
            batches = D.length_grouped_batches(
                [len(e.input_ids) for e in train], cfg.batch_size, seed
            )
        batches = batches[: self.micro_per_epoch * self.world][self.rank :: self.world]
        ga = cfg.gradient_accumulation
        return [batches[i : i + ga] for i in range(0, len(batches), ga)]


def _plan(cfg: TrainConfig, n_train: int, n_task: int, accelerator: Any) -> _Plan:
    from tunewise.train.epochs import planned_epochs

    world = accelerator.num_processes if accelerator else 1
    epochs = planned_epochs(cfg, n_task, world)
    rank = accelerator.process_index if accelerator else 0
    micro_per_epoch = math.ceil(n_train / cfg.batch_size) // world
    steps_per_epoch = max(1, math.ceil(micro_per_epoch / cfg.gradient_accumulation))
    total_steps = min(cfg.max_steps or 10**12, epochs * steps_per_epoch)
    return _Plan(epochs, world, rank, micro_per_epoch, total_steps)


def _train(
    ctx: RunContext,
    engine: Engine,
    data: _Data,
    plan: _Plan,
    state: TrainState,
    cfg: TrainConfig,
    data_dir: Path,
    ckpt_dir: Path,
) -> str | None:
    """Optimizer steps, epoch by epoch, until done; returns why it stopped early, if it did."""
    bar = reporting.progress_bar(ctx.progress and ctx.main)
    task = bar.add_task("train", total=plan.total_steps, completed=state.step, loss=math.nan, tps=0)
    started, before = time.perf_counter(), state.train_time_s
    with bar:
        while state.epoch < plan.epochs and state.step < plan.total_steps:
            groups = plan.step_groups(state.epoch, cfg, data.train, engine.packing)
            for gi in range(state.batch_in_epoch, len(groups)):
                micro = [engine.batch([data.train[j] for j in b]) for b in groups[gi]]
                step_loss, n_loss = engine.step(micro)
                elapsed = before + time.perf_counter() - started
                point = _advance(state, micro, plan.world, step_loss, n_loss, elapsed)
                point["learning_rate"] = engine.scheduler.get_last_lr()[0]
                bar.update(task, completed=state.step, loss=point["train_loss"], tps=_tps(state))
                last_in_epoch = gi == len(groups) - 1
                stop = None
                if (cfg.eval_interval and state.step % cfg.eval_interval == 0) or (
                    last_in_epoch and not cfg.eval_interval
                ):
                    valid = engine.evaluate(data.val, cfg.batch_size)
                    stop = _after_eval(ctx, engine.model, state, point, valid, cfg)
                state.history.append(point)
                _report(ctx, point, state, plan.total_steps)
                state.batch_in_epoch = gi + 1
                if last_in_epoch:
                    state.epoch, state.batch_in_epoch = state.epoch + 1, 0
                saved = last_in_epoch or bool(
                    cfg.checkpoint_steps and state.step % cfg.checkpoint_steps == 0
                )
                cancelled = ctx.cancelled()
                # A stop asked for (cancel, pause, a worker going away) keeps the steps done.
                if saved or (cancelled and state.step < plan.total_steps):
                    C.save(ctx, engine.model, engine.optimizer, engine.scheduler, state, ckpt_dir,
                           cfg.keep_checkpoints)  # fmt: skip
                if cancelled:
                    stop = "cancelled"
                if stop or state.step >= plan.total_steps:
                    return stop
    return None


def _advance(
    state: TrainState,
    micro: list[dict[str, Any]],
    world: int,
    step_loss: float,
    n_loss: int,
    elapsed: float,
) -> dict[str, Any]:
    """Count one finished optimizer step; returns its loss-curve point."""
    state.step += 1
    state.tokens += sum(m["n_tokens"] for m in micro) * world
    state.positions += sum(m["n_positions"] for m in micro) * world
    state.shared_tokens += sum(m["n_shared"] for m in micro) * world
    state.loss_sum, state.loss_count = state.loss_sum + step_loss, state.loss_count + n_loss
    state.train_time_s = elapsed
    return {
        "step": state.step,
        "epoch": state.epoch,
        "train_loss": step_loss / n_loss,
        "tokens": state.tokens,
    }


def _tps(state: TrainState) -> float:
    return state.tokens / max(state.train_time_s, 1e-9)


def _report(ctx: RunContext, point: dict[str, Any], state: TrainState, total_steps: int) -> None:
    """Every step to the trackers; a metrics event on the first and last step, every tenth, and
    after evaluations."""
    ctx.track({**point, "tokens_per_s": _tps(state)})
    valid = point.get("valid_loss")
    if valid is None and state.step % 10 and state.step not in (1, total_steps):
        return
    ctx.event(
        f"Step {state.step}/{total_steps}: training loss={point['train_loss']:.4f}"
        + (f", validation loss={valid:.4f}" if valid is not None else ""),
        type="metrics",
        data={
            "step": state.step,
            "train_loss": point["train_loss"],
            "valid_loss": valid,
            "total_steps": total_steps,
            "tokens": state.tokens,
            "tokens_per_s": round(_tps(state), 1),
        },
    )


def _after_eval(
    ctx: RunContext,
    model: Any,
    state: TrainState,
    point: dict[str, Any],
    valid: float | None,
    cfg: TrainConfig,
) -> str | None:
    """Record a validation loss, keep the best weights; "early_stopping" once patience runs out."""
    if valid is None:
        return None
    point["valid_loss"] = valid
    if ctx.on_eval is not None:  # a search may cancel the job here (seen right after this step)
        ctx.on_eval(1 + sum(p.get("valid_loss") is not None for p in state.history), valid)
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


def _finish(
    ctx: RunContext, engine: Engine, val: list[D.Example], state: TrainState, cfg: TrainConfig
) -> None:
    """A final validation loss (always reported), then the best weights back in place."""
    from tunewise.train.modeling import load_trainable_state

    last = state.history[-1] if state.history else None
    if last is not None and last.get("valid_loss") is None and val:
        last["valid_loss"] = engine.evaluate(val, cfg.batch_size)
        _after_eval(ctx, engine.model, state, {}, last["valid_loss"], cfg)
    best = getattr(engine.model, "_tunewise_best", None)
    if best is not None and last is not None and last.get("valid_loss") != state.best_valid:
        load_trainable_state(engine.model, best)
        ctx.event(f"restored the weights with the best validation loss ({state.best_valid:.4f})")


def _metrics(
    engine: Engine, data: _Data, plan: _Plan, state: TrainState, stop: str | None
) -> dict[str, Any]:
    valids = [p["valid_loss"] for p in state.history if p.get("valid_loss") is not None]
    trained = state.tokens - state.shared_tokens
    return {
        "train_loss": state.loss_sum / max(1, state.loss_count),
        "final_train_loss": state.history[-1]["train_loss"] if state.history else None,
        "valid_loss": state.best_valid,
        "final_valid_loss": valids[-1] if valids else None,
        "steps": state.step,
        "total_steps": plan.total_steps,
        "epochs": plan.epochs,
        "epochs_completed": state.epoch,
        "stopped_early": stop == "early_stopping",
        "tokens_per_s": round(_tps(state), 1),
        "train_time_s": round(state.train_time_s, 2),
        "padding_fraction": round(1 - trained / max(1, state.positions), 4),
        "shared_prefix_fraction": round(state.shared_tokens / max(1, state.tokens), 4),
        "packing": engine.packing,
        "compute_dtype": engine.dtype,
        "device": engine.device,
        "world_size": plan.world,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),  # tunewise.threads
        "length": {"train": data.train_rep.as_dict(), "validation": data.val_rep.as_dict()},
        "task_rows": data.n_task,
        "rehearsal": {**data.rehearsal, "rows_trained": len(data.train) - data.n_task},
    }
