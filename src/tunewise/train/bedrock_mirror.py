"""Bedrock's view of a customization job, mirrored into the job store.

Statuses map onto OpenAI's; the losses GetModelCustomizationJob reports become metrics events; on
Completed the per-step losses Bedrock writes to the output bucket
(`.../training_artifacts/step_wise_training_metrics.csv`, `.../validation_metrics.csv`) become
"Step N/M" metrics events, and the `outputModelArn` is registered with its dataset and job.
A Custom Model Import job (`export_bedrock.py`) is mirrored the same way (`refresh_import`).
A registry failure is a warning event: the hosted job goes on either way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunewise.train import aws
from tunewise.train.jobs import Job

if TYPE_CHECKING:
    from tunewise.train.bedrock_backend import BedrockBackend

STATUS = {
    "InProgress": "running",
    "Completed": "succeeded",
    "Failed": "failed",
    "Stopping": "cancelled",
    "Stopped": "cancelled",
}
_SAID = {
    "InProgress": "Fine-tuning job started on Bedrock",
    "Stopping": "Bedrock is stopping the job",
    "Stopped": "Bedrock stopped the job",
}
MAX_STEP_EVENTS = 200


def apply_status(
    backend: BedrockBackend,
    job: Job,
    resp: dict[str, Any],
    *,
    completed: Callable[[BedrockBackend, Job, dict[str, Any], dict[str, Any]], None] | None = None,
) -> Job:
    """Record one GetModelCustomizationJob (or GetModelImportJob) answer; returns the job."""
    store = backend.store
    info = dict(job.result or {})
    provider = str(resp.get("status"))
    status = STATUS.get(provider, job.status)  # an unknown status keeps ours: treat it as open
    _reported_losses(backend, job.id, info, resp)
    if provider != info.get("provider_status"):
        info["provider_status"] = provider
        if provider in _SAID:
            store.event(job.id, _SAID[provider])
    if status == "succeeded":
        (completed or _completed)(backend, job, info, resp)
    elif status == "failed":
        reason = resp.get("failureMessage") or "Bedrock gave no reason"
        fail(backend, job.id, info, "bedrock_job_failed", reason)
    elif status == "cancelled":
        store.set_status(job.id, "cancelled", result=info)
        store.event(job.id, "Job cancelled", level="warn")
    else:
        store.set_status(job.id, status, result=info)
    if status in {"failed", "cancelled", "succeeded"}:
        _registry_job(backend, job.id, info, status)
    return store.get(job.id)


def _reported_losses(
    backend: BedrockBackend, job_id: str, info: dict[str, Any], resp: dict[str, Any]
) -> None:
    train = (resp.get("trainingMetrics") or {}).get("trainingLoss")
    valid = [
        v["validationLoss"]
        for v in resp.get("validationMetrics") or []
        if v.get("validationLoss") is not None
    ]
    seen = {"train_loss": train, "valid_loss": valid[-1] if valid else None}
    if seen == info.get("reported") or all(v is None for v in seen.values()):
        return
    info["reported"] = seen
    text = ", ".join(f"{k.replace('_', ' ')}={v:.4f}" for k, v in seen.items() if v is not None)
    backend.store.event(job_id, f"Bedrock reports {text}", type="metrics", data=seen)


def _completed(
    backend: BedrockBackend, job: Job, info: dict[str, Any], resp: dict[str, Any]
) -> None:
    arn = resp.get("outputModelArn")
    if not arn:
        fail(
            backend, job.id, info, "no_output_model", "Bedrock completed without an outputModelArn"
        )
        return
    steps = _step_metrics(backend, job.id, info)
    reported = info.get("reported") or {}
    trained = [s["train_loss"] for s in steps if "train_loss" in s]
    valid = [s["valid_loss"] for s in steps if "valid_loss" in s]
    info.update(
        output_model_arn=arn,
        output_model_name=resp.get("outputModelName"),
        fine_tuned_model=arn,
        metrics={
            "steps": len(trained) or None,
            "final_train_loss": trained[-1] if trained else reported.get("train_loss"),
            "valid_loss": min(valid) if valid else reported.get("valid_loss"),
        },
    )
    model = _register_model(backend, job, info)
    succeed(backend, job.id, info, model, f"New fine-tuned model created: {arn}")


def fail(
    backend: BedrockBackend, job_id: str, info: dict[str, Any], code: str, message: str
) -> None:
    """Mark the job failed with an OpenAI-shaped error, and say why in an event."""
    error = {"code": code, "message": message, "param": None}
    backend.store.set_status(job_id, "failed", error=error, result=info)
    backend.store.event(job_id, f"Job failed: {message}", level="error")


def succeed(
    backend: BedrockBackend, job_id: str, info: dict[str, Any], model: Any, created: str
) -> None:
    """Mark the job succeeded and announce the model (and its registry name) like OpenAI does."""
    store = backend.store
    store.set_status(job_id, "succeeded", result=info)
    store.event(job_id, created)
    if model is not None:
        store.event(
            job_id, f"Registered as '{model.name}' (tunewise registry lineage {model.name})"
        )
    store.event(job_id, "The job has successfully completed")


def _step_metrics(
    backend: BedrockBackend, job_id: str, info: dict[str, Any]
) -> list[dict[str, Any]]:
    """Bedrock's per-step CSVs under the output prefix, as metrics events (sampled to 200)."""
    try:
        rows = _read_metric_csvs(backend.client("s3", info.get("region")), info)
    except Exception as exc:  # the model exists either way; say why the curve is missing
        backend.store.event(job_id, f"Per-step metrics not read from S3: {exc}", level="warn")
        return []
    steps = [rows[k] for k in sorted(rows)]
    total = max(rows, default=0) + 1
    stride = max(1, len(steps) // MAX_STEP_EVENTS)
    for i, s in enumerate(steps):
        if i % stride and i != len(steps) - 1:
            continue
        parts = [
            f"{k.replace('_', ' ')}={s[k]:.4f}" for k in ("train_loss", "valid_loss") if k in s
        ]
        backend.store.event(
            job_id,
            f"Step {s['step'] + 1}/{total}: {', '.join(parts)}",
            type="metrics",
            data={**s, "total_steps": total},
        )
    return steps


def _read_metric_csvs(s3: Any, info: dict[str, Any]) -> dict[int, dict[str, Any]]:
    bucket = info["bucket"]
    prefix = "/".join(p for p in (info.get("prefix"), info["job_name"], "output") if p)
    rows: dict[int, dict[str, Any]] = {}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    for page in pages:
        for obj in page.get("Contents", []):
            key = obj["Key"]
            column = {
                "step_wise_training_metrics.csv": ("training_loss", "train_loss"),
                "validation_metrics.csv": ("validation_loss", "valid_loss"),
            }.get(key.rsplit("/", 1)[-1])
            if column is None:
                continue
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
            for r in csv.DictReader(io.StringIO(body)):
                step = int(float(r["step_number"]))
                entry = rows.setdefault(
                    step, {"step": step, "epoch": int(float(r.get("epoch_number") or 0))}
                )
                entry[column[1]] = float(r[column[0]])
    return rows


def _register_model(backend: BedrockBackend, job: Job, info: dict[str, Any]) -> Any:
    return registry_call(
        backend,
        job.id,
        lambda reg: reg.register_model(
            provider_model_id=info["output_model_arn"],
            name=info.get("model_name"),
            base=job.base,
            dataset=info.get("dataset_sha256"),
            job=info["job_arn"],
            backend="bedrock",
        ),
    )


def _registry_job(backend: BedrockBackend, job_id: str, info: dict[str, Any], status: str) -> None:
    registry_call(
        backend,
        job_id,
        lambda reg: reg.register_job(
            "bedrock", local_job_id=job_id, provider_job_id=info.get("job_arn"), status=status
        ),
    )


def register_dataset(backend: BedrockBackend, job_id: str, data: Path) -> str | None:
    """The dataset's manifest hash, registered for lineage; None (with a warning) without one."""
    if not (data / "manifest.json").is_file():
        backend.store.event(
            job_id,
            f"{data} has no manifest.json; the model's lineage will not name its dataset",
            level="warn",
        )
        return None
    ds = registry_call(backend, job_id, lambda reg: reg.register_dataset(data))
    return ds.manifest_sha256 if ds is not None else None


def registry_call(backend: BedrockBackend, job_id: str, fn: Callable[[Any], Any]) -> Any:
    """Run one registry operation; a failure is a warning event (the hosted job goes on)."""
    from tunewise.registry import Registry

    try:
        with Registry(backend.registry_url) as reg:
            return fn(reg)
    except Exception as exc:  # the hosted job goes on; the warning says what was not recorded
        backend.store.event(job_id, f"Registry not updated: {exc}", level="warn")
        return None


def refresh_import(backend: BedrockBackend, job: Job) -> Job:
    """One GetModelImportJob poll, mirrored like a customization job's."""
    info = job.result or {}
    br = backend.client("bedrock", info.get("region"))
    try:
        resp = br.get_model_import_job(jobIdentifier=info["job_arn"])
    except Exception as exc:
        raise aws.provider_error(exc, f"reading Bedrock import job {info['job_name']}") from exc
    return apply_status(backend, job, resp, completed=_imported)


def _imported(
    backend: BedrockBackend, job: Job, info: dict[str, Any], resp: dict[str, Any]
) -> None:
    arn = resp.get("importedModelArn")
    if not arn:
        fail(
            backend,
            job.id,
            info,
            "no_imported_model",
            "Bedrock completed without an importedModelArn",
        )
        return
    info.update(imported_model_arn=arn, fine_tuned_model=arn)
    model = registry_call(
        backend,
        job.id,
        lambda reg: reg.register_model(
            provider_model_id=arn,
            name=info.get("imported_model_name"),
            base=job.base,
            base_hash=info.get("base_hash"),
            dataset=info.get("dataset_sha256"),
            job=info["job_arn"],
            backend="bedrock",
        ),
    )
    created = f"Imported model created: {arn} (invoke it on demand with InvokeModel or Converse)"
    succeed(backend, job.id, info, model, created)
