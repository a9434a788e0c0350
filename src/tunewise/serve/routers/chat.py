"""`POST /v1/chat/completions`: plain JSON or server-sent events, in OpenAI's wire format."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from tunewise.serve.auth import require_client
from tunewise.serve.dispatch import Gateway, _aclose, as_api_error
from tunewise.serve.errors import ApiError
from tunewise.serve.exchange import Exchange
from tunewise.serve.schemas import (
    ChatCompletionRequest,
    chunk_body,
    completion_body,
    parse_chat_request,
    usage_chunk_body,
)
from tunewise.serve.upstreams.base import ChatChunk

router = APIRouter()


def served_headers(ex: Exchange) -> dict[str, str]:
    """Which feature, arm and model answered (and whether the canary fell back)."""
    headers = {"X-Request-Id": ex.request_id}
    if ex.feature:
        headers["X-Tunewise-Feature"] = ex.feature
    if ex.arm:
        headers["X-Tunewise-Arm"] = ex.arm
    if ex.model:
        headers["X-Tunewise-Model"] = ex.model
    if ex.fallback:
        headers["X-Tunewise-Fallback"] = "canary"
    return headers


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@router.post("/v1/chat/completions", dependencies=[Depends(require_client)])
async def chat_completions(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    ex = Exchange(user=request.headers.get("x-user-id") or None)
    streaming = False
    try:
        creq = parse_chat_request(await request.body())
        ex.requested, ex.stream, ex.request = creq.model, creq.stream, creq
        ex.user = creq.user or ex.user
        ex.messages = [m.model_dump(exclude_none=True) for m in creq.messages]
        if creq.stream:
            response = await _stream(gw, creq, ex)
            streaming = True
            return response
        result = await gw.complete(creq, ex)
        body = completion_body(ex.request_id, creq.model, result)
        return Response(_json(body), media_type="application/json", headers=served_headers(ex))
    except ApiError as exc:
        ex.status, ex.error_code = exc.status, exc.code
        exc.headers.update(served_headers(ex))
        raise
    finally:
        if not streaming:
            gw.record(ex)


def _sse(body: dict[str, Any]) -> bytes:
    return b"data: " + _json(body) + b"\n\n"


async def _stream(gw: Gateway, creq: ChatCompletionRequest, ex: Exchange) -> Response:
    first, rest, remaining = await gw.open_stream(creq, ex)
    ex.first_token_s = time.monotonic() - ex.started
    usage_wanted = bool(creq.stream_options and creq.stream_options.include_usage)
    events = _events(gw, creq, ex, first, rest, remaining, usage_wanted)
    return StreamingResponse(events, media_type="text/event-stream", headers=served_headers(ex))


async def _events(
    gw: Gateway,
    creq: ChatCompletionRequest,
    ex: Exchange,
    first: ChatChunk,
    rest: AsyncIterator[ChatChunk],
    remaining: Callable[[], float],
    usage_wanted: bool,
) -> AsyncIterator[bytes]:
    created, model, rid = int(time.time()), creq.model, ex.request_id
    parts: list[str] = []
    usage = None
    done = False
    try:
        chunk: ChatChunk | None = first
        is_first = True
        while chunk is not None:
            usage = chunk.usage or usage
            # A chunk carrying only usage (sent after the finish chunk) is not a delta.
            if is_first or chunk.content or chunk.finish_reason is not None:
                parts.append(chunk.content)
                yield _sse(chunk_body(rid, model, created, chunk, first=is_first))
                is_first = False
            try:
                async with asyncio.timeout(max(remaining(), 0.001)):
                    chunk = await anext(rest)
            except StopAsyncIteration:
                chunk = None
        if usage is not None:
            ex.tokens_in, ex.tokens_out = usage.prompt_tokens, usage.completion_tokens
            if usage_wanted:
                yield _sse(usage_chunk_body(rid, model, created, usage))
        yield b"data: [DONE]\n\n"
        done = True
    except Exception as raw:
        # Tokens already went out: no fallback is possible; count it and tell the client.
        exc = as_api_error(raw)
        ex.broken_stream, ex.status, ex.error_code = True, exc.status, "broken_stream"
        gw.metrics.broken_streams.labels(ex.feature or "", ex.arm or "").inc()
        if ex.upstream:
            gw.fault(ex.upstream, ex.model or "", "broken_stream")
        yield _sse(exc.body())
        done = True
    finally:
        if not done:  # the client went away (the response task was cancelled)
            ex.status, ex.error_code = 499, "client_closed"
        ex.answer = "".join(parts)
        await _aclose(rest)
        gw.record(ex)
