"""One local job from start to finish: validate files, train (SFT or DPO), write the output folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunewise.errors import DataError
from tunewise.train.config import TrainConfig
from tunewise.train.context import RunContext
from tunewise.train.jobs import JobStore


def validate_files(data_dir: Path, method: str) -> int:
    """Check the dataset folder has train.jsonl with rows of the kind `method` needs; returns the count."""
    from tunewise.train.data import read_rows

    train = data_dir / "train.jsonl"
    if not train.is_file():
        raise DataError(
            f"{data_dir}: no train.jsonl; pass a dataset folder written by tunewise data prepare"
        )
    rows = read_rows(train)
    if not rows:
        raise DataError(f"{train}: empty; nothing to train on")
    want_dpo = method == "dpo"
    for n, row in enumerate(rows, 1):
        is_dpo = "preferred_output" in row or "preferred_completion" in row
        if is_dpo != want_dpo:
            need = (
                "preference rows (input / preferred_output / non_preferred_output)"
                if want_dpo
                else "chat rows (messages)"
            )
            raise DataError(
                f"{train} line {n}: method {method} needs {need}; use --method {'lora' if is_dpo is False else 'dpo'}"
            )
    return len(rows)


def run_job(
    store: JobStore,
    job_id: str,
    *,
    resume: bool,
    progress: bool,
    on_eval: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Run a stored job in this process and record its result (`on_eval`: see RunContext)."""
    job = store.get(job_id)
    cfg = TrainConfig.model_validate(job.config)
    n = validate_files(Path(job.data), cfg.method)
    store.event(job_id, f"Validated training file: {n} rows")
    store.set_status(job_id, "queued")
    ctx = RunContext(job_id, store, progress=progress, on_eval=on_eval)
    store.set_status(job_id, "running")
    store.event(job_id, "Fine-tuning job started" if not resume else "Fine-tuning job resumed")
    result = train_folder(ctx, Path(job.data), Path(job.out), cfg, resume=resume)
    store.set_status(job_id, "succeeded", result=result, trained_tokens=result["tokens_trained"])
    store.event(job_id, f"The job has successfully completed: {job.out}")
    return result


def train_folder(
    ctx: RunContext, data_dir: Path, out: Path, cfg: TrainConfig, *, resume: bool = False
) -> dict[str, Any]:
    """Train `cfg.method` on a dataset folder and write the adapter (or model) folder `out`."""
    from tunewise.models import model_hash, resolve_base

    started = time.perf_counter()
    base_folder = resolve_base(cfg.base)
    base_hash = model_hash(base_folder)
    if ctx.main:
        from tunewise.train import tracking

        ctx.trackers = tracking.start(cfg, data_dir, ctx.job_id)
    try:
        res = _train(ctx, data_dir, base_folder, out, cfg, resume)
        result = {"out": str(out), "metrics": res["metrics"], "tokens_trained": res["tokens"]}
        if ctx.main:
            _write(ctx, res, data_dir, out, cfg, base_folder, base_hash, started)
    except BaseException as exc:
        _close_trackers(ctx, None, "cancelled" if str(exc) == "cancelled" else "failed")
        raise
    _close_trackers(ctx, out, "succeeded")
    return result


def _write(
    ctx: RunContext,
    res: dict[str, Any],
    data_dir: Path,
    out: Path,
    cfg: TrainConfig,
    base_folder: Path,
    base_hash: str,
    started: float,
) -> None:
    """The output folder: weights, curves, and the manifest that says what produced them."""
    from tunewise.models import model_id
    from tunewise.train.curves import write_curves
    from tunewise.train.manifest import write_manifest

    out.mkdir(parents=True, exist_ok=True)
    res["model"].save_pretrained(out, safe_serialization=True)
    if cfg.method == "full":
        res["tokenizer"].save_pretrained(out)
    write_curves(out, res["history"])
    config = cfg.model_dump(mode="json")
    config["epochs_resolved"] = res["epochs"]
    write_manifest(
        out,
        kind="full" if cfg.method == "full" else "adapter",
        base_id=model_id(cfg.base),
        base_path=base_folder,
        base_hash=base_hash,
        data_dir=data_dir,
        config=config,
        metrics=res["metrics"],
        tokens_trained=res["tokens"],
        wall_time_s=time.perf_counter() - started,
        job_id=ctx.job_id,
    )


def _train(
    ctx: RunContext, data_dir: Path, base_folder: Path, out: Path, cfg: TrainConfig, resume: bool
) -> dict[str, Any]:
    if cfg.method == "dpo":
        from tunewise.train.dpo import run_dpo

        return run_dpo(
            ctx, data_dir=data_dir, base_folder=base_folder, out=out, cfg=cfg, resume=resume
        )
    from tunewise.train.trainer import run_sft

    return run_sft(ctx, data_dir=data_dir, base_folder=base_folder, out=out, cfg=cfg, resume=resume)


def _close_trackers(ctx: RunContext, out: Path | None, status: str) -> None:
    """Upload the output folder and close each tracker's run; a failure there only warns."""
    for t in ctx.trackers:
        try:
            t.finish(out, status)
        except Exception as exc:
            ctx.event(f"{t.name} tracking: closing the run failed: {exc}", level="warn")
    ctx.trackers = []
