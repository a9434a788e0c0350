"""The local engine: one transformers base model and its LoRA adapters, serving concurrent requests.

`submit` checks a request (limits, context, adapter) and queues it; one worker thread decodes
(`scheduler.py`; torch releases the GIL, so the asyncio loop stays responsive). New requests join
the running batch at the next token (continuous batching) and requests for different adapters of
the base share it. Greedy answers are the ones each request gets alone (`decode.py`);
bench/serve_local.py measures the gain. `submit` needs a running event loop: tokens come back
to it as they are produced.

    engine = Engine("smollm2-135m", {"support": "out/adapter"})
    await engine.start()
    async for chunk in engine.submit(engine.render(messages), adapter="support", max_tokens=64):
        print(chunk.content, end="")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise.errors import ModelError
from tunewise.serve.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    NotFound,
    UpstreamError,
    UpstreamTimeout,
)
from tunewise.serve.scheduler import Request, Scheduler
from tunewise.serve.upstreams.base import ChatChunk, ChatResult, Usage


@dataclass
class EngineSettings:
    """How the engine batches and what it accepts."""

    max_batch: int = 16
    """Rows decoded together; 1 turns batching off (one request at a time)."""
    max_queue: int = 64
    """Requests waiting while every row is busy before new ones get `Overloaded` (429)."""
    batch_window_ms: float = 5.0
    """How long an idle engine waits for more requests before starting a batch."""
    continuous: bool = True
    """New requests join a running batch at step boundaries (else they wait for it to finish)."""
    mix_adapters: bool = True
    """Requests for different adapters share a batch (else a batch holds one adapter)."""
    timeout_s: float = 60.0
    """Deadline of a request that brings none, queueing included."""
    max_tokens: int = 1024
    """Largest `max_tokens` a request may ask for; also the default."""
    dtype: str = "float32"
    device: str = "auto"
    """`auto` (a CUDA GPU when torch sees one, else the CPU), `cpu`, `cuda` or `cuda:N`."""
    threads: int | None = None
    """torch's intra-op threads (process-wide); None keeps torch's default (all cores)."""


class Generation:
    """A submitted request: iterate it for `ChatChunk`s as tokens come, or await `result()`."""

    def __init__(self, job: Request) -> None:
        self._job = job

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[ChatChunk]:
        job = self._job
        try:
            while True:
                left = job.deadline - time.monotonic()
                try:
                    item = await asyncio.wait_for(job.out.get(), timeout=max(left, 0.0))
                except TimeoutError:
                    raise UpstreamTimeout(
                        f"no answer within the deadline ({job.timeout_s:.1f} s); "
                        f"{len(job.generated)} tokens were generated"
                    ) from None
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            job.cancelled = True  # finished, failed or abandoned: the worker frees the row

    async def result(self) -> ChatResult:
        """The whole answer."""
        parts, last = [], ChatChunk()
        async for last in self:
            parts.append(last.content)
        return ChatResult("".join(parts), last.finish_reason or "stop", last.usage or Usage())

    def cancel(self) -> None:
        self._job.cancelled = True


class Engine:
    """Serves one base model and any number of its adapters; see the module docstring."""

    def __init__(
        self,
        base: str,
        adapters: Mapping[str, str | Path] | None = None,
        settings: EngineSettings | None = None,
    ) -> None:
        self.base_name = base
        self._initial = dict(adapters or {})
        self._loaded: Any = None  # weights.LoadedBase
        self._adapters: dict[str, Path] = {}
        self._scheduler = Scheduler(settings or EngineSettings())

    @property
    def settings(self) -> EngineSettings:
        return self._scheduler.settings

    @settings.setter
    def settings(self, value: EngineSettings) -> None:
        self._scheduler.settings = value  # the worker reads it at its next batch

    @property
    def stats(self) -> dict[str, int]:
        """Counters for metrics and tests: decode steps, most rows and adapters in one, finished."""
        return self._scheduler.stats

    # lifecycle -----------------------------------------------------------------------------

    def load(self) -> None:
        """Load the base and the adapters (each checked against the base hash), start the worker."""
        from tunewise.serve.weights import load_base

        if self._loaded is not None:
            return
        if self.settings.threads:
            import torch

            torch.set_num_threads(self.settings.threads)
        loaded = load_base(self.base_name, dtype=self.settings.dtype, device=self.settings.device)
        for name, path in self._initial.items():
            self._attach(loaded, name, path)
        self._loaded = loaded
        self._scheduler.start(loaded)

    async def start(self) -> None:
        await asyncio.to_thread(self.load)

    async def close(self) -> None:
        await asyncio.to_thread(self._scheduler.stop)

    def add_adapter(self, name: str, path: str | Path) -> None:
        """Serve the adapter at `path` as `name`; ModelError if it was trained on another base."""
        if self._loaded is None:
            raise ModelError("load() the engine before adding adapters")
        self._attach(self._loaded, name, path)

    def _attach(self, loaded: Any, name: str, path: str | Path) -> None:
        from tunewise.serve.weights import attach_adapter, check_adapter

        if self._adapters.get(name) == Path(path):
            return
        check_adapter(name, path, loaded)  # before taking the lock: hashing may take a while
        with self._scheduler.model_lock:
            attach_adapter(loaded, name, path)
        self._adapters[name] = Path(path)

    @property
    def adapters(self) -> list[str]:
        return sorted(self._adapters)

    @property
    def base_hash(self) -> str:
        """`model_hash` of the loaded base ("" before `load`)."""
        return str(self._loaded.hash) if self._loaded is not None else ""

    @property
    def device(self) -> str:
        """Where the model runs ("" before `load`)."""
        return str(self._loaded.device) if self._loaded is not None else ""

    @property
    def context(self) -> int:
        return int(self._loaded.context)

    @property
    def tokenizer(self) -> Any:
        return self._loaded.tokenizer

    def load_state(self) -> dict[str, int]:
        """Requests waiting and running (for metrics and tests)."""
        return {"queued": len(self._scheduler.pending), "running": self._scheduler.running}

    # requests ------------------------------------------------------------------------------

    def render(self, messages: list[dict[str, Any]]) -> list[int]:
        """Prompt token ids of a conversation through the model's chat template."""
        from tunewise.infer import render_prompts

        try:
            return render_prompts(self.tokenizer, [messages])[0]
        except Exception as exc:  # jinja errors from templates that reject a message order
            raise InvalidRequest(f"messages: {exc}", param="messages") from exc

    def submit(
        self,
        prompt_ids: list[int],
        *,
        adapter: str | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: Iterable[str] = (),
        deadline: float | None = None,
    ) -> Generation:
        """Queue one request; raises the error at once if it cannot be served or the queue is full."""
        from tunewise.serve.detok import IncrementalDecoder

        if not self._scheduler.alive:
            raise UpstreamError("the local engine is not running", code="engine_stopped")
        max_tokens = self._check(prompt_ids, adapter, max_tokens, temperature, top_p)
        timeout = self.settings.timeout_s
        job = Request(
            prompt_ids=list(prompt_ids),
            adapter=adapter,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
        )
        job.decoder = IncrementalDecoder(self.tokenizer, list(stop))
        job.deadline = deadline if deadline is not None else time.monotonic() + timeout
        job.timeout_s = job.deadline - time.monotonic()
        job.loop, job.out = asyncio.get_running_loop(), asyncio.Queue()
        self._scheduler.enqueue(job)
        return Generation(job)

    def _check(
        self,
        prompt_ids: list[int],
        adapter: str | None,
        max_tokens: int | None,
        temperature: float,
        top_p: float,
    ) -> int:
        if adapter is not None and adapter not in self._adapters:
            raise NotFound(
                f"adapter '{adapter}' is not loaded on {self.base_name}; loaded: "
                f"{', '.join(self.adapters) or 'none'}",
                param="model",
            )
        limit, n = self.settings.max_tokens, len(prompt_ids)
        if max_tokens is not None and not 1 <= max_tokens <= limit:
            raise InvalidRequest(
                f"max_tokens must be between 1 and {limit} (this server's limit); got {max_tokens}",
                param="max_tokens",
            )
        if n + 1 > self.context:
            raise ContextLengthExceeded(
                f"this model's maximum context length is {self.context} tokens; the messages "
                f"take {n}; shorten them",
                param="messages",
            )
        if max_tokens is not None and n + max_tokens > self.context:
            raise ContextLengthExceeded(
                f"this model's maximum context length is {self.context} tokens; you asked for "
                f"{n + max_tokens} ({n} in the messages, {max_tokens} in max_tokens); lower "
                f"max_tokens to at most {self.context - n} or shorten the messages",
                param="max_tokens",
            )
        if not 0 <= temperature <= 2:
            raise InvalidRequest(
                f"temperature must be within [0, 2]; got {temperature}", param="temperature"
            )
        if not 0 < top_p <= 1:
            raise InvalidRequest(f"top_p must be within (0, 1]; got {top_p}", param="top_p")
        return max_tokens if max_tokens is not None else min(limit, self.context - n)
