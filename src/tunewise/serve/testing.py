"""An OpenAI-compatible server with scripted answers and fault injection, and a helper that
runs any ASGI app on a loopback port in a background thread.

It speaks the wire format real servers speak (vLLM's `/v1/models` with adapter `parent`s and
`/v1/load_lora_adapter` included), so it is what the gateway's fault tests and the overhead
benchmark put behind `tunewise serve`: a real HTTP server whose failures are chosen per model.

    app = scripted_app(["base-model"], adapters={"my-adapter": "base-model"})
    with ServerThread(app) as server:        # server.url == "http://127.0.0.1:PORT"
        httpx.post(server.url + "/_faults", json={"model": "my-adapter", "error_rate": 0.3})

The answer to a conversation is `"<model> says: <last user message>"`, cut to `max_tokens`
words; a word is a token.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel


class Faults(BaseModel):
    """What goes wrong for one model (or for every model: `model: "*"`)."""

    model: str = "*"
    error_rate: float = 0.0
    """Share of requests answered with `status` and an OpenAI error body."""
    status: int = 500
    delay_s: float = 0.0
    """Added before answering (a timeout when it exceeds the client's deadline)."""
    break_after: int | None = None
    """Streams: drop the connection after this many chunks."""
    reply: str | None = None
    """Answer this text instead of the scripted `<model> says: ...` (e.g. a JSON answer)."""
    seed: int = 0


@dataclass
class ServerState:
    models: list[str]
    adapters: dict[str, str]
    allow_load: bool
    context: int = 2048
    faults: dict[str, Faults] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    requests: dict[str, int] = field(default_factory=dict)

    def fault_for(self, model: str) -> Faults | None:
        return self.faults.get(model) or self.faults.get("*")


def answer(model: str, messages: list[dict[str, Any]], max_tokens: int) -> tuple[list[str], int]:
    """The scripted answer's words and the prompt's token count."""
    user = [m for m in messages if m.get("role") == "user"]
    text = user[-1].get("content", "") if user else ""
    if isinstance(text, list):
        text = " ".join(p.get("text", "") for p in text if isinstance(p, dict))
    words = f"{model} says: {text}".split()
    prompt = sum(len(str(m.get("content", "")).split()) for m in messages)
    return words[:max_tokens], prompt


def scripted_app(
    models: list[str],
    adapters: dict[str, str] | None = None,
    *,
    allow_load: bool = True,
    context: int = 2048,
) -> Any:
    """The FastAPI app of the scripted server; prompts longer than `context` tokens (with
    max_tokens) are refused as OpenAI refuses them."""
    state = ServerState(list(models), dict(adapters or {}), allow_load, context)
    app = FastAPI()
    app.state.scripted = state

    def error(
        status: int, message: str, code: str | None = None, param: str | None = None
    ) -> JSONResponse:
        kind = "invalid_request_error" if status < 500 else "server_error"
        body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
        return JSONResponse(body, status_code=status)

    @app.post("/_faults")
    async def set_faults(f: Faults) -> dict[str, Any]:
        state.faults[f.model] = f
        state.rng.seed(f.seed)
        return f.model_dump()

    @app.get("/_stats")
    async def stats() -> dict[str, Any]:
        return {"requests": state.requests}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        data = [
            {"id": m, "object": "model", "owned_by": "scripted", "parent": None}
            for m in state.models
        ]
        data += [
            {"id": a, "object": "model", "owned_by": "scripted", "parent": p}
            for a, p in state.adapters.items()
        ]
        return {"object": "list", "data": data}

    @app.post("/v1/load_lora_adapter")
    async def load_adapter(request: Request) -> Response:
        body = await request.json()
        if not state.allow_load:
            return error(400, "runtime LoRA loading is disabled")
        state.adapters[body["lora_name"]] = state.models[0]
        return Response(f"Success: LoRA adapter '{body['lora_name']}' added successfully.")

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        model = body.get("model", "")
        state.requests[model] = state.requests.get(model, 0) + 1
        if model not in state.models and model not in state.adapters:
            return error(404, f"The model `{model}` does not exist.", "model_not_found")
        f = state.fault_for(model)
        if f and f.delay_s:
            await asyncio.sleep(f.delay_s)
        if f and f.error_rate and state.rng.random() < f.error_rate:
            return error(f.status, f"injected failure ({f.status})")
        words, prompt = answer(model, body.get("messages", []), int(body.get("max_tokens") or 16))
        if f and f.reply is not None:
            words = f.reply.split(" ")
        if prompt + int(body.get("max_tokens") or 16) > state.context:
            return error(
                400,
                f"This model's maximum context length is {state.context} tokens. However, you "
                f"requested {prompt + int(body.get('max_tokens') or 16)} tokens. Please reduce "
                "the length of the messages or completion.",
                "context_length_exceeded",
                "messages",
            )
        finish = "length" if len(words) >= int(body.get("max_tokens") or 16) else "stop"
        rid, created = f"chatcmpl-{state.rng.randrange(10**9)}", int(time.time())
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": len(words),
            "total_tokens": prompt + len(words),
        }
        if not body.get("stream"):
            message = {"role": "assistant", "content": " ".join(words)}
            return JSONResponse(
                {
                    "id": rid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                }
            )
        return StreamingResponse(
            _chunks(rid, created, model, words, finish, usage, f), media_type="text/event-stream"
        )

    return app


async def _chunks(
    rid: str,
    created: int,
    model: str,
    words: list[str],
    finish: str,
    usage: dict[str, int],
    f: Faults | None,
) -> AsyncIterator[bytes]:
    def event(delta: dict[str, Any], reason: str | None) -> bytes:
        body = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    yield event({"role": "assistant", "content": ""}, None)
    for i, word in enumerate(words):
        if f and f.break_after is not None and i >= f.break_after:
            raise ConnectionResetError("injected: stream dropped")  # uvicorn aborts the connection
        yield event({"content": (" " if i else "") + word}, None)
    yield event({}, finish)
    usage_event = {
        "id": rid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage,
    }
    yield b"data: " + json.dumps(usage_event).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a daemon thread (lifespan included)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServerThread:
        if self.thread.is_alive():
            return self
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
