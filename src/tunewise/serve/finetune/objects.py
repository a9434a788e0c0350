"""OpenAI's fine-tuning objects built from the stored rows: job, event, checkpoint, list page."""

from __future__ import annotations

from typing import Any

from tunewise.serve.finetune.tables import ApiJobRow
from tunewise.train.tables import CheckpointRow, EventRow, JobRow


def page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """OpenAI's list object (cursor pagination: the SDK sends the last id as `after`)."""
    return {
        "object": "list",
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def job_object(job: JobRow, api: ApiJobRow) -> dict[str, Any]:
    """The `fine_tuning.job` object (plus `user_provided_suffix`, as OpenAI sends it)."""
    method = api.method or {}
    hyper = (method.get(method.get("type", "supervised")) or {}).get("hyperparameters", {})
    return {
        "id": job.id,
        "object": "fine_tuning.job",
        "created_at": job.created_at,
        "error": job.error if job.status == "failed" else None,
        "fine_tuned_model": api.fine_tuned_model if job.status == "succeeded" else None,
        "finished_at": job.finished_at,
        "hyperparameters": {k: v for k, v in hyper.items() if k != "beta"},
        "model": api.model,
        "organization_id": api.organization,
        "result_files": [api.result_file] if api.result_file else [],
        "seed": api.seed,
        "status": job.status,
        "trained_tokens": job.trained_tokens,
        "training_file": api.training_file,
        "validation_file": api.validation_file,
        "estimated_finish": None,
        "integrations": [],
        "metadata": api.meta,
        "method": method,
        "user_provided_suffix": api.suffix,
    }


def event_object(e: EventRow) -> dict[str, Any]:
    return {
        "id": f"ftevent-{e.seq}",
        "object": "fine_tuning.job.event",
        "created_at": e.created_at,
        "level": e.level,
        "message": e.message,
        "type": e.type,
        "data": e.data or {},
    }


def checkpoint_object(c: CheckpointRow, model_name: str) -> dict[str, Any]:
    metrics = {"step": c.step, **(c.metrics or {})}
    return {
        "id": c.id,
        "object": "fine_tuning.job.checkpoint",
        "created_at": c.created_at,
        "fine_tuned_model_checkpoint": f"{model_name}:ckpt-step-{c.step}",
        "fine_tuning_job_id": c.job_id,
        "metrics": {k: v for k, v in metrics.items() if v is not None},
        "step_number": c.step,
    }
