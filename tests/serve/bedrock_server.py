"""A local bedrock-runtime server speaking the real wire protocol (REST-JSON for Converse, AWS
event-stream frames for ConverseStream), so boto3 parses real responses. Answers like the
scripted OpenAI server: `"<model> says: <last user text>"`, a word per token."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message (string headers only)."""
    h = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
        for k, v in headers.items()
    )
    total = 12 + len(h) + len(payload) + 4
    prelude = struct.pack(">II", total, len(h))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + h + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(kind: str, body: dict[str, Any]) -> bytes:
    headers = {":message-type": "event", ":event-type": kind, ":content-type": "application/json"}
    return frame(headers, json.dumps(body).encode())


def bedrock_app() -> FastAPI:
    app = FastAPI()
    app.state.errors = {}  # model id -> (status, AWS error code, message)
    app.state.break_after = {}  # model id -> events before a modelStreamErrorException
    app.state.seen = []  # request bodies, for assertions

    def words_for(model: str, body: dict[str, Any]) -> tuple[list[str], int, int]:
        user = [m for m in body["messages"] if m["role"] == "user"][-1]
        text = " ".join(c["text"] for c in user["content"])
        limit = int(body.get("inferenceConfig", {}).get("maxTokens", 16))
        words = f"{model} says: {text}".split()
        prompt = sum(len(c["text"].split()) for m in body["messages"] for c in m["content"])
        return words[:limit], prompt, limit

    def failure(model: str) -> Response | None:
        if model in app.state.errors:
            status, code, message = app.state.errors[model]
            return JSONResponse(
                {"message": message}, status_code=status, headers={"x-amzn-ErrorType": code}
            )
        return None

    @app.post("/model/{model_id:path}/converse")
    async def converse(model_id: str, request: Request) -> Response:
        body = await request.json()
        app.state.seen.append(body)
        if (err := failure(model_id)) is not None:
            return err
        words, prompt, limit = words_for(model_id, body)
        return JSONResponse(
            {
                "output": {
                    "message": {"role": "assistant", "content": [{"text": " ".join(words)}]}
                },
                "stopReason": "max_tokens" if len(words) >= limit else "end_turn",
                "usage": {
                    "inputTokens": prompt,
                    "outputTokens": len(words),
                    "totalTokens": prompt + len(words),
                },
                "metrics": {"latencyMs": 1},
            }
        )

    @app.post("/model/{model_id:path}/converse-stream")
    async def converse_stream(model_id: str, request: Request) -> Response:
        body = await request.json()
        app.state.seen.append(body)
        if (err := failure(model_id)) is not None:
            return err
        words, prompt, limit = words_for(model_id, body)
        frames = [event("messageStart", {"role": "assistant"})]
        for i, w in enumerate(words):
            if app.state.break_after.get(model_id) == i:
                headers = {
                    ":message-type": "exception",
                    ":exception-type": "modelStreamErrorException",
                    ":content-type": "application/json",
                }
                frames.append(
                    frame(headers, json.dumps({"message": "injected stream error"}).encode())
                )
                break
            frames.append(
                event(
                    "contentBlockDelta",
                    {"contentBlockIndex": 0, "delta": {"text": (" " if i else "") + w}},
                )
            )
        else:
            frames.append(event("contentBlockStop", {"contentBlockIndex": 0}))
            reason = "max_tokens" if len(words) >= limit else "end_turn"
            frames.append(event("messageStop", {"stopReason": reason}))
            usage = {
                "inputTokens": prompt,
                "outputTokens": len(words),
                "totalTokens": prompt + len(words),
            }
            frames.append(event("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}))
        return Response(b"".join(frames), media_type="application/vnd.amazon.eventstream")

    return app
