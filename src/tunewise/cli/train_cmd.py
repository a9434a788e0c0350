"""CLI verbs of the train stage: train, jobs (list/show/events/cancel), merge, generate."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from tunewise.cli._console import console, err_console
from tunewise.errors import ConfigError

jobs_app = typer.Typer(help="Fine-tuning jobs: list, show, events, cancel.", no_args_is_help=True)


@jobs_app.callback()
def _jobs_options(
    ctx: typer.Context,
    db: str = typer.Option(
        None,
        "--db",
        help="Database URL (sqlite:///path.db or postgresql+psycopg://...); default "
        "TUNEWISE_DB_URL, else .tunewise/tunewise.db.",
    ),
) -> None:
    """Fine-tuning jobs in the tunewise database."""
    ctx.obj = {"db": db}


def _store(ctx: typer.Context) -> Any:
    from tunewise.train.jobs import JobStore

    return JobStore((ctx.obj or {}).get("db"))


# CLI flag -> TrainConfig field (dotted for nested sections).
_FLAG_FIELDS = {
    "epochs": "epochs",
    "learning_rate": "learning_rate",
    "batch_size": "batch_size",
    "grad_accum": "gradient_accumulation",
    "warmup_ratio": "warmup_ratio",
    "max_length": "max_length",
    "excess_length": "excess_length",
    "seed": "seed",
    "lora_r": "lora.r",
    "lora_alpha": "lora.alpha",
    "lora_dropout": "lora.dropout",
    "lora_targets": "lora.target_modules",
    "eval_interval": "eval_interval",
    "patience": "early_stopping_patience",
    "max_steps": "max_steps",
    "checkpoint_steps": "checkpoint_steps",
    "keep_checkpoints": "keep_checkpoints",
    "dtype": "compute_dtype",
    "threads": "num_threads",
    "packing": "packing",
    "backend": "backend",
    "bedrock_role": "bedrock.role_arn",
    "bedrock_bucket": "bedrock.bucket",
    "bedrock_region": "bedrock.region",
    "openai_model": "openai.model",
    "openai_base_url": "openai.base_url",
    "suffix": "openai.suffix",
}


def build_config(
    config_file: Path | None, base: str | None, method: str | None, flags: dict[str, Any]
) -> Any:
    """TrainConfig from tunewise.yaml's train section overlaid with command-line values."""
    from pydantic import ValidationError

    from tunewise.config import _humanize, load_config
    from tunewise.train.config import TrainConfig

    raw: dict[str, Any] = load_config(config_file).train.model_dump() if config_file else {}
    if base:
        raw["base"] = base
    if method:
        raw["method"] = method
    for flag, value in flags.items():
        if value is None:
            continue
        if flag == "epochs" and value != "auto":
            value = int(value)
        if flag == "lora_targets":
            value = [v.strip() for v in value.split(",") if v.strip()]
        target, key = raw, _FLAG_FIELDS[flag]
        *parents, leaf = key.split(".")
        for p in parents:
            target = target.setdefault(p, {})
        target[leaf] = value
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "\n  ".join("train." + _humanize(e) for e in exc.errors())  # type: ignore[arg-type]
        raise ConfigError(f"invalid training options:\n  {problems}") from None


def train(
    data: Path = typer.Option(
        None, "--data", help="Dataset folder (train.jsonl, validation.jsonl, manifest.json)."
    ),
    base: str = typer.Option(
        None, "--base", help="Base model: smollm2-135m, a local HF folder or a hub id."
    ),
    method: str = typer.Option(None, "--method", help="lora | qlora | full | dpo."),
    out: Path = typer.Option(
        None, "--out", help="Output folder (default adapters/DATASET-METHOD-TIMESTAMP)."
    ),
    resume: str = typer.Option(
        None, "--resume", help="Job id to continue from its last checkpoint."
    ),
    config: Path = typer.Option(
        None, "--config", help="tunewise.yaml whose train: section gives the defaults."
    ),
    epochs: str = typer.Option(None, help="Epochs, or auto."),
    learning_rate: float = typer.Option(None, "--lr", "--learning-rate"),
    batch_size: int = typer.Option(None, "--batch-size"),
    grad_accum: int = typer.Option(None, "--grad-accum"),
    warmup_ratio: float = typer.Option(None, "--warmup-ratio"),
    max_length: int = typer.Option(None, "--max-length"),
    excess_length: str = typer.Option(None, "--excess-length", help="drop | truncate | error."),
    seed: int = typer.Option(None, "--seed"),
    lora_r: int = typer.Option(None, "--lora-r"),
    lora_alpha: int = typer.Option(None, "--lora-alpha"),
    lora_dropout: float = typer.Option(None, "--lora-dropout"),
    lora_targets: str = typer.Option(None, "--lora-targets", help="Comma-separated module names."),
    eval_interval: int = typer.Option(
        None, "--eval-interval", help="Steps between validation evals (default: each epoch)."
    ),
    patience: int = typer.Option(
        None, "--patience", help="Early-stopping patience in evaluations."
    ),
    max_steps: int = typer.Option(None, "--max-steps"),
    checkpoint_steps: int = typer.Option(None, "--checkpoint-steps"),
    keep_checkpoints: int = typer.Option(None, "--keep-checkpoints"),
    dtype: str = typer.Option(None, "--dtype", help="auto | float32 | bfloat16."),
    threads: int = typer.Option(None, "--threads"),
    packing: bool = typer.Option(
        None,
        "--packing/--no-packing",
        help="Pack rows without padding, shared prefix computed once (default: on).",
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Show the progress bar on stderr."
    ),
    backend: str = typer.Option(
        None, "--backend", help="Where the job runs: local (default), openai or bedrock."
    ),
    bedrock_role: str = typer.Option(
        None, "--bedrock-role", help="IAM role ARN Bedrock assumes (train.bedrock.role_arn)."
    ),
    bedrock_bucket: str = typer.Option(
        None, "--bedrock-bucket", help="S3 bucket for Bedrock's data and output."
    ),
    bedrock_region: str = typer.Option(None, "--bedrock-region", help="AWS region for Bedrock."),
    openai_model: str = typer.Option(
        None, "--openai-model", help="Model to fine-tune on the OpenAI API (train.openai.model)."
    ),
    openai_base_url: str = typer.Option(
        None,
        "--openai-base-url",
        help="API root for --backend openai, e.g. a tunewise serve (default OPENAI_BASE_URL).",
    ),
    suffix: str = typer.Option(
        None,
        "--suffix",
        help="Hosted jobs: text in the fine-tuned model's name (ft:BASE:ORG:SUFFIX:ID).",
    ),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="Hosted backends: wait for the job to end (default)."
    ),
) -> None:
    """Fine-tune a base model on a dataset folder (or resume a job) and write an adapter folder.

    With `--backend bedrock` the job runs on Amazon Bedrock (`--base` is the Bedrock model id);
    with `--backend openai` on OpenAI's fine-tuning API or any server speaking it (`tunewise serve`).
    """
    flags = {k: v for k, v in dict(locals()).items() if k in _FLAG_FIELDS}
    from tunewise.train.backend import TrainRequest, backend_for_job, get_backend

    if resume:
        runner = backend_for_job(resume)
        if not hasattr(runner, "resume"):
            raise ConfigError(f"the {runner.name} backend cannot resume jobs")
        job = runner.resume(resume, progress=progress)
    else:
        if data is None:
            raise ConfigError(
                "--data is required (a dataset folder from tunewise data prepare), or --resume JOB"
            )
        cfg = build_config(config, base, method, flags)
        request = TrainRequest(data=data, config=cfg, out=out, progress=progress)
        request.extra["wait"] = wait
        job = get_backend(cfg.backend).submit(request)
    _print_outcome(job)


def _print_outcome(job: Any) -> None:
    if job.backend != "local":
        _print_hosted(job)
        return
    if job.status == "cancelled":
        err_console.print(  # soft_wrap: the command gets copied, never break it
            f"job {job.id} cancelled; resume with: tunewise train --resume {job.id}",
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(1)
    m = (job.result or {}).get("metrics", {})
    vl = m.get("valid_loss")
    console.print(
        f"job {job.id} {job.status}: {job.out}\n"
        f"  steps {m.get('steps')}, train loss {m.get('final_train_loss', 0):.4f}, "
        f"best validation loss {vl if vl is None else round(vl, 4)}, {m.get('tokens_per_s')} tokens/s"
    )


def _print_hosted(job: Any) -> None:
    if job.status in ("failed", "cancelled"):
        reason = (job.error or {}).get("message")
        err_console.print(
            f"job {job.id} {job.status} on {job.backend}" + (f": {reason}" if reason else ""),
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(1)
    result = job.result or {}
    console.print(
        f"job {job.id} {job.status} on {job.backend}: "
        f"{result.get('fine_tuned_model') or result.get('job_arn') or job.out}",
        soft_wrap=True,  # ARNs get copied: never break them
    )
    if job.status != "succeeded":
        console.print(
            f"  follow it: tunewise jobs show {job.id}; wait for it: tunewise train --resume {job.id}"
        )


@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Recent jobs, newest first."""
    from rich.table import Table

    jobs = _store(ctx).list_jobs(limit=limit)
    if as_json:
        console.print_json(json.dumps([j.to_json() for j in jobs]))
        return
    table = Table()
    table.add_column("id", no_wrap=True)  # users copy it into `jobs show` / `train --resume`
    for col in ("status", "method", "base", "created"):
        table.add_column(col)
    table.add_column("out", overflow="fold")
    for j in jobs:
        table.add_row(
            j.id,
            j.status,
            j.method,
            j.base,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created_at)),
            j.out,
        )
    console.print(table)


@jobs_app.command("show")
def jobs_show(ctx: typer.Context, job_id: str) -> None:
    """One job as JSON (status, config, error, result, checkpoints)."""
    store = _store(ctx)
    job = _refreshed(store, job_id).to_json()
    job["checkpoints"] = [c.__dict__ for c in store.checkpoints(job_id)]
    console.print_json(json.dumps(job))


def _refreshed(store: Any, job_id: str) -> Any:
    """The job as its backend sees it now; offline (a hosted backend unreachable), the stored state."""
    from tunewise.errors import TunewiseError
    from tunewise.train.backend import backend_for_job

    store.get(job_id)  # an unknown id is an error, not a warning
    try:
        return backend_for_job(job_id, store).status(job_id)
    except TunewiseError as exc:
        err_console.print(f"warning: not refreshed ({exc}); showing the stored state", markup=False)
        return store.get(job_id)


@jobs_app.command("events")
def jobs_events(
    ctx: typer.Context,
    job_id: str,
    after: str = typer.Option(None, "--after"),
    limit: int = typer.Option(100, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """A job's events, oldest first."""
    store = _store(ctx)
    _refreshed(store, job_id)
    events = store.events(job_id, after=after, limit=limit)
    if as_json:
        console.print_json(
            json.dumps({"object": "list", "data": events, "has_more": len(events) == limit})
        )
        return
    for e in events:
        stamp = time.strftime("%H:%M:%S", time.localtime(e["created_at"]))
        console.print(f"{stamp} [{e['level']}] {e['message']}", markup=False)


@jobs_app.command("cancel")
def jobs_cancel(ctx: typer.Context, job_id: str) -> None:
    """Cancel a job; a running one stops cleanly at its next step."""
    from tunewise.train.backend import backend_for_job

    job = backend_for_job(job_id, _store(ctx)).cancel(job_id)
    console.print(
        f"job {job.id}: {job.status}"
        + (" (cancellation requested)" if job.cancel_requested and job.status == "running" else "")
    )


def merge(
    adapter: Path = typer.Argument(..., help="Adapter folder written by tunewise train."),
    out: Path = typer.Option(..., "--out", help="Folder for the merged model."),
    base: str = typer.Option(
        None, "--base", help="Base model (default: the one in the adapter's manifest)."
    ),
) -> None:
    """Merge a LoRA adapter into its base model and write a plain Hugging Face model folder."""
    from tunewise.train.merge import merge_adapter

    console.print(f"merged model written to {merge_adapter(adapter, out, base)}")


def generate(
    prompt: list[str] = typer.Option(None, "--prompt", "-p", help="A user message (repeatable)."),
    input_file: Path = typer.Option(
        None, "--input", help="JSONL of rows with messages (the final assistant turn is dropped)."
    ),
    base: str = typer.Option("smollm2-135m", "--base"),
    adapter: Path = typer.Option(None, "--adapter", help="Adapter folder to apply."),
    system: str = typer.Option(None, "--system", help="System prompt for --prompt messages."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens"),
    batch_size: int = typer.Option(16, "--batch-size"),
) -> None:
    """Batched greedy generation through the chat template, with or without an adapter."""
    from tunewise.infer import generate as infer_generate

    convs: list[list[dict[str, Any]]] = []
    for p in prompt or []:
        convs.append(
            ([{"role": "system", "content": system}] if system else [])
            + [{"role": "user", "content": p}]
        )
    if input_file:
        from tunewise.train.data import read_rows

        for row in read_rows(input_file):
            msgs = row.get("messages") or (row.get("input") or {}).get("messages") or []
            while msgs and msgs[-1].get("role") == "assistant":
                msgs = msgs[:-1]
            convs.append(msgs)
    if not convs:
        raise ConfigError("nothing to generate: pass --prompt TEXT or --input FILE.jsonl")
    for gen in infer_generate(
        convs, base, adapter, max_new_tokens=max_new_tokens, batch_size=batch_size
    ):
        console.print(
            json.dumps(
                {"text": gen.text, "tokens_in": gen.tokens_in, "tokens_out": gen.tokens_out}
            ),
            markup=False,
        )


def register(app: typer.Typer) -> None:
    """Add this stage's verbs to the root app."""
    app.command("train")(train)
    app.add_typer(jobs_app, name="jobs")
    app.command("merge")(merge)
    app.command("generate")(generate)
