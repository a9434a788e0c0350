"""DPO on preference rows through TRL's DPOTrainer, with LoRA, inside the same job lifecycle.

Rows: {"input": {"messages": [...]}, "preferred_output": [assistant msg], "non_preferred_output": [...]}
(the OpenAPI spelling preferred_completion / non_preferred_completion is accepted too). Events,
metrics, checkpoints and cancellation go through a TrainerCallback. Checkpoints are the Trainer's own
(adapter, optimizer, scheduler, RNG, trainer state) under `OUT/checkpoints/checkpoint-STEP`, written
each epoch or every `checkpoint_steps`, recorded in the job store; `--resume` continues from the last.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tunewise.errors import DataError, JobError
from tunewise.train.config import TrainConfig
from tunewise.train.context import RunContext


def preference_example(row: dict[str, Any], where: str) -> dict[str, Any]:
    """TRL's conversational preference form: prompt / chosen / rejected message lists."""
    prompt = (row.get("input") or {}).get("messages")
    chosen = row.get("preferred_output") or row.get("preferred_completion")
    rejected = row.get("non_preferred_output") or row.get("non_preferred_completion")
    if not prompt or not chosen or not rejected:
        raise DataError(
            f"{where}: DPO rows need input.messages, preferred_output and non_preferred_output"
        )
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def run_dpo(
    ctx: RunContext, *, data_dir: Path, base_folder: Path, out: Path, cfg: TrainConfig, resume: bool
) -> dict[str, Any]:
    """Train a LoRA adapter with DPO; returns what run_sft returns (model, tokenizer, metrics...)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from tunewise.data.cost import auto_epochs
    from tunewise.train.data import read_rows
    from tunewise.train.modeling import default_threads, pick_dtype

    torch.set_num_threads(cfg.num_threads or default_threads())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = pick_dtype(cfg.model_copy(update={"method": "lora"}), device)

    def load(name: str) -> list[dict[str, Any]]:
        path = data_dir / name
        rows = read_rows(path) if path.is_file() else []
        return [preference_example(r, f"{path} line {i}") for i, r in enumerate(rows, 1)]

    train, val = load("train.jsonl"), load("validation.jsonl")
    epochs = auto_epochs(len(train)) if cfg.epochs == "auto" else int(cfg.epochs)
    tok = AutoTokenizer.from_pretrained(base_folder)
    model = AutoModelForCausalLM.from_pretrained(base_folder, dtype=getattr(torch, dtype))
    history: list[dict[str, Any]] = []

    class Events(TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = logs or {}
            point = {
                "step": state.global_step,
                "train_loss": logs.get("loss"),
                "valid_loss": logs.get("eval_loss"),
            }
            if point["train_loss"] is None and point["valid_loss"] is None:
                return
            history.append(point)
            ctx.event(
                f"Step {state.global_step}/{state.max_steps}: {logs}",
                type="metrics",
                data={**point, "total_steps": state.max_steps},
            )

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ctx.store and ctx.job_id and ctx.main:
                last: dict[str, Any] = next(
                    (p for p in reversed(history) if p.get("train_loss") is not None), {}
                )
                ctx.store.add_checkpoint(
                    ctx.job_id, state.global_step, str(path), {"step": state.global_step, **last}
                )
                for old in ctx.store.checkpoints(ctx.job_id):
                    if not Path(old.path).is_dir():  # rotated away by save_total_limit
                        ctx.store.drop_checkpoint(old.id)
            ctx.event(f"checkpoint at step {state.global_step}: {path}")

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if ctx.store and ctx.job_id and ctx.store.cancel_requested(ctx.job_id):
                # Saved at this step: a pause or a worker going away continues from here.
                control.should_training_stop = control.should_save = True
                self.cancelled = True

    cb = Events()
    ckpt_dir = out / "checkpoints"
    last = _last_checkpoint(ctx, ckpt_dir) if resume else None
    args = DPOConfig(
        output_dir=str(ckpt_dir),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation,
        num_train_epochs=epochs,
        max_steps=cfg.max_steps or -1,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_ratio,
        beta=cfg.dpo_beta,
        max_length=cfg.max_length,
        seed=cfg.seed,
        bf16=dtype == "bfloat16",
        use_cpu=device == "cpu",
        save_strategy="steps" if cfg.checkpoint_steps else "epoch",
        save_steps=cfg.checkpoint_steps or 500,
        save_total_limit=cfg.keep_checkpoints,
        report_to=[],
        logging_steps=1,
        eval_strategy="epoch" if val else "no",
        disable_tqdm=not ctx.progress,
        gradient_checkpointing=False,
    )
    peft_cfg = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=list(cfg.lora.target_modules),
        task_type="CAUSAL_LM",
    )
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(val) if val else None,
        processing_class=tok,
        peft_config=peft_cfg,
        callbacks=[cb],
    )
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=last)
    elapsed = time.perf_counter() - t0
    if getattr(cb, "cancelled", False):
        raise JobError("cancelled")
    history = _history(trainer.state.log_history)  # includes the steps before a resume
    valid = [p["valid_loss"] for p in history if p.get("valid_loss") is not None]
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    metrics = {
        "train_loss": trainer.state.log_history[-1].get("train_loss"),
        "valid_loss": min(valid) if valid else None,
        "final_valid_loss": valid[-1] if valid else None,
        "steps": trainer.state.global_step,
        "epochs": epochs,
        "train_time_s": round(elapsed, 2),
        "compute_dtype": dtype,
        "device": device,
        "beta": cfg.dpo_beta,
    }
    return {
        "model": trainer.model,
        "tokenizer": tok,
        "metrics": metrics,
        "tokens": tokens,
        "history": history,
        "epochs": epochs,
    }


def _last_checkpoint(ctx: RunContext, ckpt_dir: Path) -> str:
    """The newest Trainer checkpoint of this job, or a JobError when there is none."""
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
    if last is None:
        raise JobError(
            f"job {ctx.job_id} has no checkpoint to resume from in {ckpt_dir}; start a new run instead"
        )
    return last


def _history(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Loss-curve points from the Trainer's log (training and evaluation entries merged by step)."""
    points: dict[int, dict[str, Any]] = {}
    for entry in log_history:
        step = int(entry.get("step", 0))
        if "loss" in entry:
            points.setdefault(step, {"step": step})["train_loss"] = entry["loss"]
        if "eval_loss" in entry:
            points.setdefault(step, {"step": step})["valid_loss"] = entry["eval_loss"]
    return [points[k] for k in sorted(points)]
