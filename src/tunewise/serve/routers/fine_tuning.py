"""`/v1/fine_tuning/jobs`: create, list, retrieve, cancel, pause, resume, events, checkpoints.

Thin over `FineTuning` (serve/finetune/service.py): handlers only enqueue and read; the worker
validates and trains. Sync handlers run in the server's thread pool, off the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from tunewise.serve.auth import require_client
from tunewise.serve.finetune.requests import JobCreate
from tunewise.serve.routers.files import organization, service

router = APIRouter(prefix="/v1/fine_tuning/jobs", dependencies=[Depends(require_client)])


@router.post("")
def create_job(request: Request, body: JobCreate) -> dict[str, Any]:
    ft = service(request)
    return ft.create(body, organization(request, ft))


@router.get("")
def list_jobs(
    request: Request, after: str | None = None, limit: int = Query(20, ge=1, le=100)
) -> dict[str, Any]:
    # The SDK sends metadata filters as deep-object parameters: metadata[key]=value.
    meta = {
        k[len("metadata[") : -1]: v
        for k, v in request.query_params.items()
        if k.startswith("metadata[") and k.endswith("]")
    }
    return service(request).list(after=after, limit=limit, metadata=meta or None)


@router.get("/{job_id}")
def retrieve_job(request: Request, job_id: str) -> dict[str, Any]:
    return service(request).get(job_id)


@router.post("/{job_id}/cancel")
def cancel_job(request: Request, job_id: str) -> dict[str, Any]:
    return service(request).cancel(job_id)


@router.post("/{job_id}/pause")
def pause_job(request: Request, job_id: str) -> dict[str, Any]:
    return service(request).pause(job_id)


@router.post("/{job_id}/resume")
def resume_job(request: Request, job_id: str) -> dict[str, Any]:
    return service(request).resume(job_id)


@router.get("/{job_id}/events")
def list_events(
    request: Request, job_id: str, after: str | None = None, limit: int = Query(20, ge=1, le=100)
) -> dict[str, Any]:
    return service(request).events(job_id, after=after, limit=limit)


@router.get("/{job_id}/checkpoints")
def list_checkpoints(
    request: Request, job_id: str, after: str | None = None, limit: int = Query(10, ge=1, le=100)
) -> dict[str, Any]:
    return service(request).checkpoints(job_id, after=after, limit=limit)
