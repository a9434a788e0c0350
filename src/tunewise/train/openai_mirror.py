"""The provider's view of an OpenAI fine-tuning job, mirrored into the job store.

Each poll records the provider job's new events (the API lists them newest first: they are read
back to the last one mirrored and stored oldest first, metrics events with their step and
losses), its new checkpoints, and its status (OpenAI's statuses are the job store's; one it adds
later, such as `paused`, keeps ours). On success the `ft:` model is registered with its dataset
and job; a registry failure is a warning event, never a failed job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunewise.train.hosted import registry_call
from tunewise.train.jobs import STATUSES, TERMINAL, Job

if TYPE_CHECKING:
    from tunewise.train.openai_backend import OpenAIBackend


def mirror(backend: OpenAIBackend, job: Job, remote: Any, client: Any) -> Job:
    """Record one provider job object (and its new events and checkpoints); returns our job."""
    store = backend.store
    info = dict(job.result or {})
    _events(store, job.id, info, client)
    _checkpoints(store, job.id, info, client)
    status = str(remote.status)
    info["provider_status"] = status
    if status == "succeeded":
        _succeeded(backend, job, info, remote)
    elif status == "failed":
        error = remote.error.model_dump() if remote.error else {}
        error = {
            "code": error.get("code") or "provider_job_failed",
            "message": error.get("message") or "the provider gave no reason",
            "param": error.get("param"),
        }
        store.set_status(job.id, "failed", error=error, result=info)
        store.event(job.id, f"Job failed on the provider: {error['message']}", level="error")
    elif status == "cancelled":
        store.set_status(job.id, "cancelled", result=info)
    else:
        store.set_status(job.id, status if status in STATUSES else job.status, result=info)
    now = store.get(job.id)
    if now.status in TERMINAL:
        registry_call(
            backend,
            job.id,
            lambda reg: reg.register_job(
                "openai",
                local_job_id=job.id,
                provider_job_id=info.get("provider_job_id"),
                status=now.status,
            ),
        )
    return now


def _events(store: Any, job_id: str, info: dict[str, Any], client: Any) -> None:
    pid, last = info["provider_job_id"], info.get("last_event")
    new = []
    for ev in client.fine_tuning.jobs.list_events(pid, limit=100):  # pages newest first
        if ev.id == last:
            break
        new.append(ev)
    for ev in reversed(new):
        data = ev.data if isinstance(ev.data, dict) else None
        kind = ev.type if ev.type in ("message", "metrics") else "message"
        store.event(job_id, ev.message, level=ev.level, type=kind, data=data)
    if new:
        info["last_event"] = new[0].id


def _checkpoints(store: Any, job_id: str, info: dict[str, Any], client: Any) -> None:
    seen = set(info.get("checkpoints_seen") or [])
    fresh = [
        ck
        for ck in client.fine_tuning.jobs.checkpoints.list(info["provider_job_id"], limit=100)
        if ck.id not in seen
    ]
    for ck in sorted(fresh, key=lambda c: c.step_number):
        metrics = ck.metrics.model_dump(exclude_none=True) if ck.metrics else {}
        store.add_checkpoint(job_id, ck.step_number, ck.fine_tuned_model_checkpoint, metrics)
        seen.add(ck.id)
    info["checkpoints_seen"] = sorted(seen)


def _succeeded(backend: OpenAIBackend, job: Job, info: dict[str, Any], remote: Any) -> None:
    store = backend.store
    name = remote.fine_tuned_model
    if not name:
        store.set_status(
            job.id,
            "failed",
            result=info,
            error={
                "code": "no_output_model",
                "message": "the provider reported success without a fine_tuned_model",
                "param": None,
            },
        )
        return
    info["fine_tuned_model"] = name
    model = registry_call(
        backend,
        job.id,
        lambda reg: reg.register_model(
            provider_model_id=name,
            base=job.base,
            dataset=info.get("dataset_sha256"),
            job=info["provider_job_id"],
            backend="openai",
        ),
    )
    store.set_status(job.id, "succeeded", result=info, trained_tokens=remote.trained_tokens)
    if model is not None:
        store.event(job.id, f"Registered as '{model.name}' (see tunewise registry lineage)")
