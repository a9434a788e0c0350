"""The `bedrock` upstream: Amazon Bedrock's Converse API, for foundation models, custom-model
deployments, imported models and provisioned throughput (by model id or ARN).

    serve:
      upstreams:
        aws:
          kind: bedrock
          region: us-east-1
          models: ["amazon.nova-lite-v1:0"]     # served under these names as they are
          serves: ["arn:aws:bedrock:*"]         # registered provider models with these ids

Credentials come from boto3's usual chain (environment, profile, instance role). boto3 is
blocking, so calls run on a thread pool sized `max_connections`; a stream is read event by event
on that pool.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tunewise.serve.config import UpstreamConfig
from tunewise.serve.errors import (
    ApiError,
    ContextLengthExceeded,
    InvalidRequest,
    ModelUnavailable,
    Overloaded,
    UpstreamError,
    UpstreamTimeout,
)
from tunewise.serve.upstreams.base import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    ModelTarget,
    Usage,
    read_options,
    register_upstream,
)

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
_OVERLOAD = {"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"}
_UNAVAILABLE = {"AccessDeniedException", "ResourceNotFoundException", "ModelNotReadyException"}
_TIMEOUT = {"ModelTimeoutException"}
_CONTEXT_HINTS = ("too long", "too many tokens", "context length", "context window", "max_tokens")


class BedrockOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str | None = None
    """AWS region (default: boto3's configuration)."""
    profile: str | None = None
    """AWS profile name from ~/.aws/config."""
    endpoint_url: str | None = None
    """A VPC endpoint or a local stand-in for bedrock-runtime."""
    models: list[str] = Field(default_factory=list)
    """Model ids served under their own name."""
    serves: list[str] = Field(default_factory=lambda: ["arn:aws:bedrock:*"])
    """Patterns (fnmatch) of registered provider model ids (or names) sent here."""
    max_connections: int = Field(32, gt=0)


def converse_messages(
    messages: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages as Converse's (system blocks, alternating user/assistant messages)."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        role, text = m.get("role"), str(m.get("content") or "")
        if role in {"system", "developer"}:
            system.append({"text": text})
            continue
        if role not in {"user", "assistant"}:
            raise InvalidRequest(
                f"the bedrock upstream takes system, user and assistant messages; messages.[{i}] "
                f"has role '{role}'",
                param=f"messages.[{i}].role",
                code="invalid_value",
            )
        if out and out[-1]["role"] == role:  # Converse wants turns to alternate
            out[-1]["content"].append({"text": text})
        else:
            out.append({"role": role, "content": [{"text": text}]})
    if not out or out[0]["role"] != "user":
        raise InvalidRequest(
            "the bedrock upstream needs the conversation to start with a user message",
            param="messages",
            code="invalid_value",
        )
    return system, out


def bedrock_error(name: str, exc: Exception) -> ApiError:
    """A botocore failure as the error the gateway answers with."""
    from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
        return UpstreamTimeout(f"upstream '{name}' (bedrock) timed out")
    if not isinstance(exc, ClientError):
        return UpstreamError(f"upstream '{name}' (bedrock) failed: {type(exc).__name__}: {exc}")
    err = exc.response.get("Error", {})
    code, message = str(err.get("Code", "")), str(err.get("Message", "") or exc)
    text = f"upstream '{name}' (bedrock {code}): {message}"
    if code in _OVERLOAD:
        return Overloaded(text, retry_after_s=1.0)
    if code in _TIMEOUT:
        return UpstreamTimeout(text)
    if code in _UNAVAILABLE:
        return ModelUnavailable(text)
    if code == "ValidationException":
        if any(h in message.lower() for h in _CONTEXT_HINTS):
            return ContextLengthExceeded(text, param="messages")
        return InvalidRequest(text, code="invalid_request")
    return UpstreamError(text)


class BedrockUpstream:
    kind = "bedrock"

    def __init__(self, name: str, config: UpstreamConfig) -> None:
        self.name = name
        self.config = config
        self.opts = read_options(name, config, BedrockOptions)
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        from tunewise.errors import require

        boto3 = require("boto3", "eval", "the bedrock upstream")
        from botocore.config import Config

        session = boto3.Session(profile_name=self.opts.profile, region_name=self.opts.region)
        cfg = Config(
            max_pool_connections=self.opts.max_connections,
            read_timeout=self.config.timeout_s,
            retries={"max_attempts": 1, "mode": "standard"},  # the gateway retries, within budget
        )
        self._client = session.client(
            "bedrock-runtime", endpoint_url=self.opts.endpoint_url, config=cfg
        )
        self._pool = ThreadPoolExecutor(
            self.opts.max_connections, thread_name_prefix=f"bedrock-{self.name}"
        )

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def models(self) -> list[str]:
        return list(self.opts.models)

    def serves(self, target: ModelTarget) -> bool:
        if target.kind == "base":
            return target.name in self.opts.models
        names = [target.name] + ([target.provider_model] if target.provider_model else [])
        return target.kind == "provider" and any(
            fnmatch.fnmatchcase(n, p) for n in names for p in self.opts.serves
        )

    async def prepare(self, target: ModelTarget) -> None:
        return None

    def _params(self, req: ChatRequest, target: ModelTarget) -> dict[str, Any]:
        system, messages = converse_messages(req.messages)
        inference: dict[str, Any] = {"maxTokens": req.max_tokens}
        if req.temperature is not None:
            inference["temperature"] = req.temperature
        if req.top_p is not None:
            inference["topP"] = req.top_p
        if req.stop:
            inference["stopSequences"] = list(req.stop)
        params: dict[str, Any] = {
            "modelId": target.provider_model or target.name,
            "messages": messages,
            "inferenceConfig": inference,
        }
        if system:
            params["system"] = system
        return params

    async def _run(self, fn: Any, *args: Any, **kw: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, lambda: fn(*args, **kw))
        except Exception as exc:
            raise bedrock_error(self.name, exc) from None

    async def chat(self, req: ChatRequest, target: ModelTarget) -> ChatResult:
        out = await self._run(self._client.converse, **self._params(req, target))
        blocks = out.get("output", {}).get("message", {}).get("content", [])
        usage = out.get("usage", {})
        return ChatResult(
            content="".join(b.get("text", "") for b in blocks),
            finish_reason=STOP_REASONS.get(out.get("stopReason", ""), "stop"),
            usage=Usage(int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))),
        )

    async def stream(self, req: ChatRequest, target: ModelTarget) -> AsyncIterator[ChatChunk]:
        out = await self._run(self._client.converse_stream, **self._params(req, target))
        events = iter(out["stream"])
        reason: str | None = None
        try:
            while True:
                event = await self._run(next, events, None)
                if event is None:
                    break
                if "contentBlockDelta" in event:
                    text = event["contentBlockDelta"].get("delta", {}).get("text", "")
                    if text:
                        yield ChatChunk(content=text)
                elif "messageStop" in event:
                    reason = STOP_REASONS.get(event["messageStop"].get("stopReason", ""), "stop")
                elif "metadata" in event:
                    u = event["metadata"].get("usage", {})
                    usage = Usage(int(u.get("inputTokens", 0)), int(u.get("outputTokens", 0)))
                    yield ChatChunk(finish_reason=reason or "stop", usage=usage)
                    return
        finally:
            close = getattr(out["stream"], "close", None)
            if close is not None:
                close()
        if reason is None:
            raise UpstreamError(f"upstream '{self.name}' (bedrock) ended the stream early")
        yield ChatChunk(finish_reason=reason)


register_upstream("bedrock", BedrockUpstream)
