"""OpenAI's chat-completions wire format: request validation and response bodies.

Validation errors become `InvalidRequest` with OpenAI's `param` spelling (`messages.[0].role`)
and a message naming the field, never pydantic's raw text.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tunewise.serve.errors import InvalidRequest
from tunewise.serve.upstreams.base import ChatChunk, ChatResult, Usage

ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None

    def text(self, where: str) -> str:
        """The content as text: text parts joined; other parts refused."""
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        out = []
        for i, part in enumerate(self.content):
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise InvalidRequest(
                    f"only text content parts are supported; {where}.content.[{i}] has type "
                    f"'{part.get('type')}'",
                    param=f"{where}.content.[{i}].type",
                    code="invalid_value",
                )
            out.append(part["text"])
        return "".join(out)


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The fields tunewise reads; others pass to upstreams that understand them (`extra`)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    # strict: JSON `true` or "10" is the wrong type for a number, as OpenAI answers
    max_tokens: int | None = Field(None, ge=1, strict=True)
    max_completion_tokens: int | None = Field(None, ge=1, strict=True)
    temperature: float | None = Field(None, ge=0, le=2, strict=True)
    top_p: float | None = Field(None, gt=0, le=1, strict=True)
    n: int = Field(1, ge=1, le=1, strict=True)
    stream: bool = Field(False, strict=True)
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: int | None = Field(None, strict=True)
    user: str | None = Field(None, max_length=256)

    @field_validator("stop")
    @classmethod
    def _stop(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list) and len(v) > 4:
            raise ValueError("at most 4 stop sequences")
        return v

    def stop_list(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def messages_text(self) -> list[dict[str, Any]]:
        """Messages for an upstream: content as text, other keys (tool_calls, name) kept."""
        out = []
        for i, m in enumerate(self.messages):
            d = m.model_dump(exclude_none=True)
            d["content"] = m.text(f"messages.[{i}]")
            out.append(d)
        return out

    def extra_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


_TYPE_NAMES = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "string_type": "a string",
    "list_type": "an array",
    "model_type": "an object",
    "dict_type": "an object",
}


_JSON_TYPES = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "list": "an array",
    "dict": "an object",
    "NoneType": "null",
}


def _param(loc: tuple[Any, ...]) -> str:
    parts = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif p in {
            "str",
            "list[dict[str,any]]",
            "list[str]",
            "function-after[_stop(), union[str,list[str]]]",
        }:
            continue  # pydantic's union-member labels
        else:
            parts.append(str(p))
    return ".".join(parts)


def _message(err: dict[str, Any], param: str) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    got = _JSON_TYPES.get(type(err.get("input")).__name__, "a value")
    if kind == "missing":
        return f"Missing required parameter: '{param}'."
    if kind in _TYPE_NAMES:
        return f"Invalid type for '{param}': expected {_TYPE_NAMES[kind]}, but got {got} instead."
    if kind == "literal_error":
        return f"Invalid value for '{param}': {err['input']!r}; supported values are {ctx.get('expected')}."
    if kind == "too_short" and param == "messages":
        return "'messages' must contain at least one message."
    if kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        bound = next(iter(ctx.values()))
        word = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        return f"Invalid value for '{param}': {err['input']!r}; it must be {word} {bound}."
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"Invalid value for '{param}': {msg}."


def parse_chat_request(body: bytes) -> ChatCompletionRequest:
    """The request body, validated; InvalidRequest names the first bad field."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidRequest(
            f"the request body is not valid JSON ({exc}); send a JSON object",
            code="invalid_json",
        ) from None
    if not isinstance(raw, dict):
        raise InvalidRequest("the request body must be a JSON object", code="invalid_json")
    try:
        req = ChatCompletionRequest.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        param = _param(first["loc"])
        code = (
            "missing_required_parameter"
            if first["type"] == "missing"
            else ("invalid_type" if first["type"] in _TYPE_NAMES else "invalid_value")
        )
        raise InvalidRequest(_message(first, param), param=param, code=code) from None  # type: ignore[arg-type]
    for i, m in enumerate(req.messages):
        # Only an assistant turn (one that called tools) may come without content.
        if m.content is None and m.role != "assistant":
            param = f"messages.[{i}].content"
            raise InvalidRequest(f"Missing required parameter: '{param}'.", param=param,
                                 code="missing_required_parameter")  # fmt: skip
    return req


# ---- response bodies ---------------------------------------------------------------------------


def usage_dict(u: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
    }


def completion_body(request_id: str, model: str, result: ChatResult) -> dict[str, Any]:
    message = result.message or {"role": "assistant", "content": result.content}
    message.setdefault("refusal", None)
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": result.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage_dict(result.usage),
        "system_fingerprint": None,
    }


def chunk_body(
    request_id: str, model: str, created: int, chunk: ChatChunk, *, first: bool
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if first:
        delta["role"] = "assistant"
    if chunk.content or first:
        delta["content"] = chunk.content
    return {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {"index": 0, "delta": delta, "finish_reason": chunk.finish_reason, "logprobs": None}
        ],
    }


def usage_chunk_body(request_id: str, model: str, created: int, usage: Usage) -> dict[str, Any]:
    return {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [],
        "usage": usage_dict(usage),
    }
