"""The `local` upstream: a transformers base model in this process, with its LoRA adapters.

    serve:
      upstreams:
        laptop:
          kind: local
          base: smollm2-135m              # bundled name, local folder or cached hub id
          adapters:                       # optional: served under these names without the registry
            support-v1: out/adapter
          max_batch: 16                   # rows decoded together (1: no batching)
          max_queue: 64                   # waiting requests before 429 + Retry-After

Registered adapters whose base hash is this base's are served too: `prepare` loads one the first
time it is asked for (refusing an adapter trained on another base) and keeps it loaded. Every
adapter shares the batches of the others (`serve.engine`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tunewise.errors import ModelError
from tunewise.serve.config import UpstreamConfig
from tunewise.serve.engine import Engine, EngineSettings, Generation
from tunewise.serve.errors import ModelUnavailable
from tunewise.serve.upstreams.base import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    ModelTarget,
    read_options,
    refuse_unsupported,
    register_upstream,
)


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    base: str
    """The base model: a bundled name (`smollm2-135m`), a local folder or a cached hub id."""
    served_name: str | None = None
    """The name clients use for the plain base (default: `base`)."""
    adapters: dict[str, str] = Field(default_factory=dict)
    """Adapter folders served under these names, loaded at start (registered ones load on use)."""
    max_batch: int = Field(16, gt=0)
    """Rows decoded together; 1 serves one request at a time."""
    max_queue: int = Field(64, ge=0)
    """Requests waiting for a row before new ones get 429 with Retry-After."""
    batch_window_ms: float = Field(5.0, ge=0)
    """How long an idle model waits for more requests before starting a batch."""
    continuous: bool = True
    """New requests join a running batch at the next token (else they wait for it to finish)."""
    mix_adapters: bool = True
    """Requests for different adapters share a batch (else one adapter per batch)."""
    temperature: float = Field(0.0, ge=0, le=2)
    """Temperature when a request sends none (0: greedy, reproducible)."""
    dtype: str = Field("float32", pattern="^(float32|bfloat16|float16)$")
    """Weights precision; bfloat16 pays only on CPUs with AMX/AVX512-BF16 or on a GPU."""
    device: str = Field("auto", pattern="^(auto|cpu|cuda(:[0-9]+)?)$")
    """Where the model runs: auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda, cuda:N."""
    threads: int | None = Field(None, gt=0)
    """torch threads for the whole process (default: one per core). On a machine shared with
    other busy processes fewer threads can be several times faster: threads wait on each other."""


class LocalUpstream:
    kind = "local"

    def __init__(self, name: str, config: UpstreamConfig) -> None:
        self.name = name
        self.config = config
        self.opts = read_options(name, config, LocalOptions)
        self.served_name = self.opts.served_name or self.opts.base
        settings = EngineSettings(
            max_batch=self.opts.max_batch,
            max_queue=self.opts.max_queue,
            batch_window_ms=self.opts.batch_window_ms,
            continuous=self.opts.continuous,
            mix_adapters=self.opts.mix_adapters,
            timeout_s=config.timeout_s,
            max_tokens=config.max_tokens,
            dtype=self.opts.dtype,
            device=self.opts.device,
            threads=self.opts.threads,
        )
        self.engine = Engine(self.opts.base, self.opts.adapters, settings)
        self._registered: dict[ModelTarget, str] = {}  # target -> adapter name in the engine

    async def start(self) -> None:
        try:
            await self.engine.start()
        except ModelError as exc:  # a bad base or a configured adapter on another base
            from tunewise.errors import ConfigError

            raise ConfigError(f"serve.upstreams.{self.name}: {exc}") from exc

    async def close(self) -> None:
        await self.engine.close()

    def models(self) -> list[str]:
        return [self.served_name, *self.opts.adapters]

    def serves(self, target: ModelTarget) -> bool:
        if target.kind == "base":
            return target.name in self.models() or target.name == self.opts.base
        if target.kind != "adapter":
            return False  # a full fine-tune is a base of its own; a provider model is remote
        if target.base_hash:
            return target.base_hash == self.engine.base_hash
        return target.base in (self.opts.base, self.served_name)

    async def prepare(self, target: ModelTarget) -> None:
        if target.kind != "adapter" or target in self._registered:
            return
        if not target.path:
            raise ModelUnavailable(f"adapter '{target.name}' has no folder registered")
        name = _adapter_name(target)
        try:
            await asyncio.to_thread(self.engine.add_adapter, name, Path(target.path))
        except ModelError as exc:  # missing folder, or trained on another base
            raise ModelUnavailable(
                f"upstream '{self.name}' cannot serve '{target.name}': {exc}"
            ) from exc
        self._registered[target] = name

    def _submit(self, req: ChatRequest, target: ModelTarget) -> Generation:
        adapter = self._registered.get(target)
        if target.kind == "base" and target.name in self.opts.adapters:
            adapter = target.name
        elif target.kind == "adapter" and adapter is None:
            raise ModelUnavailable(f"adapter '{target.name}' is not loaded; prepare() it first")
        engine = self.engine
        return engine.submit(
            engine.render(req.messages),
            adapter=adapter,
            max_tokens=req.max_tokens,
            temperature=self.opts.temperature if req.temperature is None else req.temperature,
            top_p=1.0 if req.top_p is None else req.top_p,
            seed=req.seed,
            stop=req.stop,
            deadline=req.deadline,
        )

    async def chat(self, req: ChatRequest, target: ModelTarget) -> ChatResult:
        refuse_unsupported(req, self.name)
        return await self._submit(req, target).result()

    async def stream(self, req: ChatRequest, target: ModelTarget) -> AsyncIterator[ChatChunk]:
        refuse_unsupported(req, self.name)
        gen = self._submit(req, target)
        try:
            async for chunk in gen:
                yield chunk
        finally:
            gen.cancel()  # the client went away: free the row now, not at garbage collection


def _adapter_name(target: ModelTarget) -> str:
    """A PEFT adapter name (no dots) unique per registered model and weights."""
    tag = f"{target.name}-{(target.content_hash or '')[:12]}"
    return re.sub(r"[^A-Za-z0-9_-]", "_", tag)


register_upstream("local", LocalUpstream)
