"""`/v1/files`: upload (multipart, streamed to disk), list, retrieve, content, delete."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse

from tunewise.serve.auth import require_client
from tunewise.serve.finetune.service import FineTuning
from tunewise.serve.finetune.uploads import receive_upload

router = APIRouter(dependencies=[Depends(require_client)])


def service(request: Request) -> FineTuning:
    ft: FineTuning = request.app.state.fine_tuning
    return ft


def organization(request: Request, ft: FineTuning) -> str:
    return request.headers.get("openai-organization") or ft.cfg.organization


@router.post("/v1/files")
async def upload_file(request: Request) -> dict[str, Any]:
    ft = service(request)
    limit = int(ft.cfg.max_upload_mb * 1_000_000)
    upload = await receive_upload(request, ft.files.folder, limit)
    return await asyncio.to_thread(ft.files.add, upload, organization(request, ft))


@router.get("/v1/files")
def list_files(
    request: Request,
    purpose: str | None = None,
    limit: int = Query(10_000, ge=1, le=10_000),
    after: str | None = None,
    order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    return service(request).files.list(purpose=purpose, limit=limit, after=after, order=order)


@router.get("/v1/files/{file_id}")
def retrieve_file(request: Request, file_id: str) -> dict[str, Any]:
    from tunewise.serve.finetune.files import file_object

    return file_object(service(request).files.get(file_id))


@router.get("/v1/files/{file_id}/content")
def file_content(request: Request, file_id: str) -> FileResponse:
    row = service(request).files.get(file_id)
    return FileResponse(row.path, media_type="application/octet-stream")


@router.delete("/v1/files/{file_id}")
def delete_file(request: Request, file_id: str) -> dict[str, Any]:
    return service(request).files.delete(file_id)
