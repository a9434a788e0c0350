"""The `openai` upstream: any OpenAI-compatible server (vLLM, llama.cpp's server, OpenAI).

    serve:
      upstreams:
        gpu:
          kind: openai
          base_url: http://gpu-box:8000/v1
          api_key_env: VLLM_API_KEY          # the key is read from this variable, never logged
          base: HuggingFaceTB/SmolLM2-135M-Instruct   # adapters registered on this base go here
          load_adapters: true                # POST /v1/load_lora_adapter for adapters it lacks
          models: ["HuggingFaceTB/SmolLM2-135M-Instruct"]  # names it serves as they are
          serves: ["ft:*"]                   # provider models (by id pattern) it answers for

For an adapter, `prepare` checks that `/v1/models` lists it with the served base as `parent`
(vLLM started with `--enable-lora --lora-modules NAME=PATH`), loading it first when allowed
(vLLM needs VLLM_ALLOW_RUNTIME_LORA_UPDATING=True). Requests name the adapter by its registered
name, a provider model by its id (`ft:...`).
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import AsyncIterator
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


class OpenAIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(pattern=r"^https?://")
    """Root of the API, ending in /v1."""
    api_key_env: str | None = None
    """Environment variable holding the bearer key (OPENAI_API_KEY for OpenAI)."""
    base: str | None = None
    """The base model this server runs (id, folder or content hash, as registered): adapters and
    full models on it are sent here."""
    served_base: str | None = None
    """The name the server lists its base under in /v1/models (default: the first model there
    without a parent)."""
    load_adapters: bool = False
    """Load a missing adapter with POST /v1/load_lora_adapter (its registered folder as path)."""
    path_map: dict[str, str] = Field(default_factory=dict)
    """Folder prefixes rewritten for the server's filesystem: {local_prefix: server_prefix}."""
    models: list[str] = Field(default_factory=list)
    """Model names it serves as they are (listed in /v1/models)."""
    serves: list[str] = Field(default_factory=list)
    """Patterns (fnmatch) of provider model ids or registered names it answers for, e.g. `ft:*`."""
    max_connections: int = Field(256, gt=0)


def _same_base(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    from tunewise.models import model_id

    return a == b or model_id(a) == model_id(b)


class OpenAIUpstream:
    kind = "openai"

    def __init__(self, name: str, config: UpstreamConfig) -> None:
        self.name = name
        self.config = config
        self.opts = read_options(name, config, OpenAIOptions)
        self.url = self.opts.base_url.rstrip("/")
        self._client: Any = None

    async def start(self) -> None:
        import aiohttp

        headers = {}
        if self.opts.api_key_env:
            key = os.environ.get(self.opts.api_key_env)
            if not key:
                from tunewise.errors import ConfigError

                raise ConfigError(
                    f"serve.upstreams.{self.name}.api_key_env: ${self.opts.api_key_env} is not set"
                )
            headers["Authorization"] = f"Bearer {key}"
        connector = aiohttp.TCPConnector(limit=self.opts.max_connections, keepalive_timeout=30)
        self._client = aiohttp.ClientSession(
            headers=headers, connector=connector, json_serialize=_dumps
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    def models(self) -> list[str]:
        return list(self.opts.models)

    def serves(self, target: ModelTarget) -> bool:
        if target.kind == "base":
            return target.name in self.opts.models
        names = [target.name] + ([target.provider_model] if target.provider_model else [])
        if any(fnmatch.fnmatchcase(n, p) for n in names for p in self.opts.serves):
            return True
        if target.kind in {"adapter", "full"} and self.opts.base:
            return self.opts.base == target.base_hash or _same_base(self.opts.base, target.base)
        return False

    def _model_name(self, target: ModelTarget) -> str:
        return target.provider_model or target.name

    # ---- adapters -------------------------------------------------------------------------------

    async def prepare(self, target: ModelTarget) -> None:
        if target.kind != "adapter" or target.provider_model:
            return
        listed = await self._list_models()
        entry = listed.get(target.name)
        if entry is None and self.opts.load_adapters and target.path:
            await self._load_adapter(target)
            listed = await self._list_models()
            entry = listed.get(target.name)
        if entry is None:
            raise ModelUnavailable(
                f"upstream '{self.name}' does not list adapter '{target.name}' in {self.url}/models; "
                f"start vLLM with --enable-lora --lora-modules {target.name}={target.path} "
                f"or set serve.upstreams.{self.name}.load_adapters: true"
            )
        base = self.opts.served_base or next(
            (k for k, v in listed.items() if not v.get("parent")), None
        )
        if entry.get("parent") != base:
            raise ModelUnavailable(
                f"upstream '{self.name}' serves adapter '{target.name}' on parent "
                f"'{entry.get('parent')}', not on its base '{base}': the adapter was loaded on "
                "another base model"
            )

    async def _list_models(self) -> dict[str, dict[str, Any]]:
        data = await self._send("GET", "/models", None)
        listed = data.get("data") if isinstance(data, dict) else None
        return {str(m.get("id")): m for m in listed or [] if isinstance(m, dict)}

    async def _load_adapter(self, target: ModelTarget) -> None:
        path = str(target.path)
        for local, remote in self.opts.path_map.items():
            if path.startswith(local):
                path = remote + path[len(local) :]
                break
        await self._send(
            "POST", "/load_lora_adapter", {"lora_name": target.name, "lora_path": path}
        )

    # ---- requests -------------------------------------------------------------------------------

    def _payload(self, req: ChatRequest, target: ModelTarget, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = dict(req.extra)
        body.update(
            model=self._model_name(target), messages=req.messages, max_tokens=req.max_tokens
        )
        for key in ("temperature", "top_p", "seed"):
            if getattr(req, key) is not None:
                body[key] = getattr(req, key)
        if req.stop:
            body["stop"] = list(req.stop)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def _send(
        self, method: str, path: str, body: dict[str, Any] | None, timeout: float | None = None
    ) -> Any:
        """The parsed JSON (or text) answer of one request; HTTP errors raise as ApiErrors."""
        import aiohttp

        try:
            async with self._client.request(
                method,
                self.url + path,
                json=body,
                timeout=aiohttp.ClientTimeout(total=timeout or self.config.timeout_s),
            ) as resp:
                content = await resp.read()
        except TimeoutError:
            raise UpstreamTimeout(f"upstream '{self.name}' timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"upstream '{self.name}' unreachable: {type(exc).__name__}: {exc}"
            ) from None
        if resp.status >= 400:
            raise upstream_error(self.name, resp.status, content, resp.headers)
        try:
            return json.loads(content)
        except ValueError:
            return content.decode("utf-8", "replace")

    async def chat(self, req: ChatRequest, target: ModelTarget) -> ChatResult:
        data = await self._send(
            "POST", "/chat/completions", self._payload(req, target, False), req.remaining()
        )
        try:
            choice = data["choices"][0]
            message = choice["message"]
            usage = data.get("usage") or {}
        except (KeyError, IndexError, TypeError) as exc:
            raise UpstreamError(
                f"upstream '{self.name}' sent a malformed completion ({exc!r})"
            ) from None
        extra = {k: v for k, v in message.items() if k not in {"role", "content", "refusal"} and v}
        return ChatResult(
            content=message.get("content") or "",
            finish_reason=choice.get("finish_reason") or "stop",
            usage=Usage(
                int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            ),
            message=dict(message) if extra else None,
        )

    async def stream(self, req: ChatRequest, target: ModelTarget) -> AsyncIterator[ChatChunk]:
        import aiohttp

        body = self._payload(req, target, True)
        try:
            async with self._client.post(
                self.url + "/chat/completions",
                json=body,
                timeout=aiohttp.ClientTimeout(total=req.remaining()),
            ) as resp:
                if resp.status >= 400:
                    raise upstream_error(self.name, resp.status, await resp.read(), resp.headers)
                async for chunk in _sse_chunks(self.name, resp.content):
                    yield chunk
        except TimeoutError:
            raise UpstreamTimeout(f"upstream '{self.name}' timed out while streaming") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"upstream '{self.name}' stream failed: {type(exc).__name__}: {exc}"
            ) from None


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


async def _sse_chunks(name: str, lines: Any) -> AsyncIterator[ChatChunk]:
    """ChatChunks from an SSE body read line by line (bytes)."""
    finished = False
    async for raw in lines:
        if not raw.startswith(b"data:"):
            continue
        data = raw[5:].strip()
        if data == b"[DONE]":
            return
        try:
            event = json.loads(data)
        except ValueError:
            raise UpstreamError(f"upstream '{name}' sent a malformed stream event") from None
        if isinstance(event, dict) and event.get("error"):
            err = event["error"] if isinstance(event["error"], dict) else {}
            raise UpstreamError(
                f"upstream '{name}' failed mid-stream: {err.get('message') or event['error']}"
            )
        usage = event.get("usage")
        u = (
            Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
            if usage
            else None
        )
        choices = event.get("choices") or []
        if not choices:
            if u is not None:
                yield ChatChunk(usage=u)
            continue
        choice = choices[0]
        reason = choice.get("finish_reason")
        finished = finished or reason is not None
        yield ChatChunk(
            content=(choice.get("delta") or {}).get("content") or "", finish_reason=reason, usage=u
        )
    if not finished:
        raise UpstreamError(f"upstream '{name}' closed the stream before it finished")


def upstream_error(name: str, status: int, content: bytes, headers: Any) -> ApiError:
    """An upstream's error response as the error the gateway answers with."""
    try:
        data = json.loads(content)
        # OpenAI nests the error; older vLLM puts message/type/code at the top level.
        err = data.get("error") or data if isinstance(data, dict) else {"message": str(data)}
        if not isinstance(err, dict):
            err = {"message": str(err)}
    except ValueError:
        err = {"message": content[:200].decode("utf-8", "replace")}
    message = f"upstream '{name}': {err.get('message') or f'HTTP {status}'}"
    code, param = err.get("code"), err.get("param")
    code = code if isinstance(code, str) else None
    if status == 429:
        try:
            retry = float(headers.get("retry-after") or 1)
        except ValueError:
            retry = 1.0
        return Overloaded(message, retry_after_s=retry)
    if status in {400, 413, 422}:
        if code == "context_length_exceeded" or "context length" in message.lower():
            return ContextLengthExceeded(message, param=param or "messages")
        return InvalidRequest(message, param=param, code=code or "invalid_request")
    if status in {401, 403, 404}:  # our configuration is wrong, not the client's request
        return ModelUnavailable(message)
    if status in {408, 504}:
        return UpstreamTimeout(message)
    return UpstreamError(message, status=502)


register_upstream("openai", OpenAIUpstream)
