"""A minimal OpenAI-compatible upstream for the gateway benchmark: raw asyncio (uvloop when
installed), HTTP/1.1 keep-alive, a fixed answer. It costs as little CPU as a server can, so the
benchmark's differences are the gateways' own.

    python bench/fast_upstream.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

MODEL = "bench-model"


def _response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
        "connection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


def _bodies() -> tuple[bytes, bytes, bytes]:
    created = int(time.time())
    words = [
        "Your",
        "card",
        "is",
        "on",
        "its",
        "way",
        "and",
        "should",
        "arrive",
        "within",
        "three",
        "business",
        "days",
    ]
    usage = {"prompt_tokens": 24, "completion_tokens": len(words), "total_tokens": 24 + len(words)}
    completion = {
        "id": "chatcmpl-bench", "object": "chat.completion", "created": created, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(words)}, "finish_reason": "stop"}],
        "usage": usage,
    }  # fmt: skip
    events = []
    for i, w in enumerate(["", *words]):
        delta = (
            {"role": "assistant", "content": ""}
            if i == 0
            else {"content": (" " if i > 1 else "") + w}
        )
        events.append({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": created,
                       "model": MODEL, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})  # fmt: skip
    events.append({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": created, "model": MODEL,
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})  # fmt: skip
    events.append({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": created, "model": MODEL,
                   "choices": [], "usage": usage})  # fmt: skip
    sse = (
        b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    )
    models = {
        "object": "list",
        "data": [{"id": MODEL, "object": "model", "owned_by": "bench", "created": created}],
    }
    return (
        _response("200 OK", json.dumps(completion).encode()),
        _response("200 OK", sse, "text/event-stream"),
        _response("200 OK", json.dumps(models).encode()),
    )


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    plain, stream, models = _bodies()
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            if head.startswith(b"GET"):
                writer.write(models)
            elif b'"stream":true' in body.replace(b" ", b""):
                writer.write(stream)
            else:
                writer.write(plain)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(_handle, "127.0.0.1", port, backlog=1024)
    print(f"fast upstream on http://127.0.0.1:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1])))
