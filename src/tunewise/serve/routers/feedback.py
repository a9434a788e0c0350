"""`POST /v1/feedback`: a user's rating or outcome for one response, authenticated like chat."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from tunewise.serve.auth import KeyInfo, require_client
from tunewise.serve.errors import InvalidRequest, NotFound

router = APIRouter()


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response_id: str = Field(min_length=1, max_length=64)
    """The `id` of the chat completion (also its `X-Request-Id` header)."""
    rating: float | None = Field(None, ge=0, le=1)
    """0 (bad) .. 1 (good): thumbs up 1, down 0; stars (n - 1) / 4."""
    outcome: str | None = Field(None, min_length=1, max_length=64)
    """What happened downstream, e.g. `resolved`, `escalated`, `reopened`."""
    comment: str | None = Field(None, max_length=2000)


@router.post("/v1/feedback")
async def post_feedback(
    body: FeedbackRequest, request: Request, key: KeyInfo | None = Depends(require_client)
) -> dict[str, Any]:
    from tunewise.serve.rollout.feedback import record_feedback

    if body.rating is None and body.outcome is None:
        raise InvalidRequest("send a rating (0 to 1) or an outcome label", param="rating")
    store = request.app.state.store
    if store is None:
        raise NotFound(
            "this server runs without a store: feedback needs one (--db)", code="no_store"
        )
    by = f"key:{key.name}" if key else "anonymous"

    def record() -> dict[str, Any] | None:
        return record_feedback(store.engine, body.response_id, rating=body.rating,
                               outcome=body.outcome, comment=body.comment, by=by)  # fmt: skip

    found = await asyncio.to_thread(record)
    if found is None and request.app.state.requestlog is not None:
        # The log is written in batches: write ours now, then give other replicas one flush.
        log = request.app.state.requestlog
        await log.flush()
        deadline = time.monotonic() + 2 * log.config.log_flush_s
        while found is None and time.monotonic() < deadline:
            found = await asyncio.to_thread(record)
            if found is None:
                await asyncio.sleep(0.1)
    if found is None:
        raise NotFound(
            f"No response with id '{body.response_id}' in the request log (feedback is taken for "
            "answers this gateway logged, within the log's retention).",
            param="response_id",
            code="response_not_found",
        )
    return found
