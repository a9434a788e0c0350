"""CLI verbs of the train stage: train, jobs (list/show/events/cancel), merge, generate."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from tunewise.cli import options as o
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


def train(
    ctx: typer.Context,
    data: Path = typer.Option(
        None, "--data", help="Dataset folder (train.jsonl, validation.jsonl, manifest.json)."
    ),
    out: Path = typer.Option(
        None, "--out", help="Output folder (default adapters/DATASET-METHOD-TIMESTAMP)."
    ),
    resume: str = typer.Option(
        None, "--resume", help="Job id to continue from its last checkpoint."
    ),
    config: o.ConfigFile = None,
    sets: o.Sets = None,
    base: o.Base = None,
    method: o.Method = None,
    epochs: o.TrainEpochs = None,
    learning_rate: o.LearningRate = None,
    batch_size: o.TrainBatchSize = None,
    grad_accum: o.GradAccum = None,
    warmup_ratio: o.WarmupRatio = None,
    max_length: o.MaxLength = None,
    excess_length: o.ExcessLength = None,
    seed: o.TrainSeed = None,
    lora_r: o.LoraR = None,
    lora_alpha: o.LoraAlpha = None,
    lora_dropout: o.LoraDropout = None,
    lora_targets: o.LoraTargets = None,
    eval_interval: o.EvalInterval = None,
    patience: o.Patience = None,
    max_steps: o.MaxSteps = None,
    checkpoint_steps: o.CheckpointSteps = None,
    keep_checkpoints: o.KeepCheckpoints = None,
    dtype: o.Dtype = None,
    threads: o.Threads = None,
    packing: o.Packing = None,
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Show the progress bar on stderr."
    ),
    backend: o.Backend = None,
    bedrock_role: o.BedrockRole = None,
    bedrock_bucket: o.BedrockBucket = None,
    bedrock_region: o.BedrockRegion = None,
    openai_model: o.OpenAIModel = None,
    openai_base_url: o.OpenAIBaseUrl = None,
    suffix: o.Suffix = None,
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="Hosted backends: wait for the job to end (default)."
    ),
) -> None:
    """Fine-tune a base model on a dataset folder (or resume a job) and write an adapter folder.

    With `--backend bedrock` the job runs on Amazon Bedrock (`--base` is the Bedrock model id);
    with `--backend openai` on OpenAI's fine-tuning API or any server speaking it (`tunewise serve`).
    Settings come from --config's train: section, then the options (each names its config key),
    validated together.
    """
    from tunewise.config import load_config
    from tunewise.train.backend import TrainRequest, backend_for_job, get_backend

    overrides = o.overrides(ctx)
    if resume:
        if overrides or config:
            given = ", ".join(sorted(overrides)) or "--config"
            raise ConfigError(
                f"--resume continues a job with the settings it started with; drop the options "
                f"that set {given}"
            )
        runner = backend_for_job(resume)
        if not hasattr(runner, "resume"):
            raise ConfigError(f"the {runner.name} backend cannot resume jobs")
        job = runner.resume(resume, progress=progress)
    else:
        if data is None:
            raise ConfigError(
                "--data is required (a dataset folder from tunewise data prepare), or --resume JOB"
            )
        cfg = load_config(config, overrides).train
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
