"""The local engine: one transformers base model and its LoRA adapters, serving concurrent requests.

Requests are queued (bounded: `Overloaded` when full) and decoded by one worker thread (torch
releases the GIL, so the asyncio loop stays responsive). When the engine is idle, the first request
waits `batch_window_ms` for company; after that new requests join the running batch at the next
step boundary (continuous batching) instead of waiting for it to drain, and rows leave as they
finish. Requests for different adapters of the base share a batch. Greedy answers are the ones
each request gets alone (see `decode.py`); bench/serve_local.py measures the gain.

    engine = Engine("smollm2-135m", {"support": "out/adapter"})
    await engine.start()
    async for chunk in engine.submit(engine.render(messages), adapter="support", max_tokens=64):
        print(chunk.content, end="")
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.serve.decode import DecodeBatch, Job
from tunewise.serve.errors import (
    ApiError,
    ContextLengthExceeded,
    InvalidRequest,
    NotFound,
    Overloaded,
    UpstreamError,
    UpstreamTimeout,
)
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
    threads: int | None = None
    """torch's intra-op threads (process-wide); None keeps torch's default (all cores)."""


class Generation:
    """A submitted request: iterate it for `ChatChunk`s as tokens come, or await `result()`."""

    def __init__(self, job: _Job) -> None:
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
        self.settings = settings or EngineSettings()
        self._initial = dict(adapters or {})
        self._loaded: Any = None  # weights.LoadedBase
        self._adapters: dict[str, Path] = {}
        self._pending: deque[_Job] = deque()
        self._cv = threading.Condition()
        self._model_lock = threading.Lock()  # held by the worker per step and by add_adapter
        self._thread: threading.Thread | None = None
        self._closing = False
        self._service_s = 1.0  # moving average of a request's time in a row, for Retry-After
        self.stats = {"steps": 0, "max_rows": 0, "max_adapters": 0, "finished": 0}
        """Counters for metrics and tests: decode steps, most rows and adapters in one."""

    # lifecycle -----------------------------------------------------------------------------

    def load(self) -> None:
        """Load the base and the adapters (each checked against the base hash), start the worker."""
        from tunewise.serve.weights import load_base

        if self._thread is not None:
            return
        if self.settings.threads:
            import torch

            torch.set_num_threads(self.settings.threads)
        self._loaded = load_base(self.base_name, dtype=self.settings.dtype)
        for name, path in self._initial.items():
            self.add_adapter(name, path)
        self._thread = threading.Thread(target=self._run, name="tunewise-engine", daemon=True)
        self._thread.start()

    async def start(self) -> None:
        await asyncio.to_thread(self.load)

    async def close(self) -> None:
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    def add_adapter(self, name: str, path: str | Path) -> None:
        """Serve the adapter at `path` as `name`; ModelError if it was trained on another base."""
        from tunewise.serve.weights import attach_adapter, check_adapter

        if self._adapters.get(name) == Path(path):
            return
        check_adapter(name, path, self._loaded)  # before taking the lock: hashing may take a while
        with self._model_lock:
            attach_adapter(self._loaded, name, path)
        self._adapters[name] = Path(path)

    @property
    def adapters(self) -> list[str]:
        return sorted(self._adapters)

    @property
    def base_hash(self) -> str:
        """`model_hash` of the loaded base ("" before `load`)."""
        return str(self._loaded.hash) if self._loaded is not None else ""

    @property
    def context(self) -> int:
        return int(self._loaded.context)

    @property
    def tokenizer(self) -> Any:
        return self._loaded.tokenizer

    def load_state(self) -> dict[str, int]:
        """Requests waiting and running (for metrics and tests)."""
        return {"queued": len(self._pending), "running": self._running}

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

        if self._thread is None or self._closing:
            raise UpstreamError("the local engine is not running", code="engine_stopped")
        max_tokens = self._check(prompt_ids, adapter, max_tokens, temperature, top_p)
        timeout = self.settings.timeout_s
        job = _Job(
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
        with self._cv:
            free_rows = max(0, self.settings.max_batch - self._running)
            if len(self._pending) >= self.settings.max_queue + free_rows:
                raise Overloaded(
                    f"the local model is busy: {self._running} requests running, "
                    f"{len(self._pending)} waiting (the queue holds {self.settings.max_queue})",
                    retry_after_s=self._retry_after(),
                )
            self._pending.append(job)
            self._cv.notify()
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

    def _retry_after(self) -> float:
        rounds = len(self._pending) / max(1, self.settings.max_batch)
        return max(1.0, rounds * self._service_s)

    # the worker thread -----------------------------------------------------------------------

    _running = 0

    def _run(self) -> None:
        batch = DecodeBatch(self._loaded.model, peft=False)
        while True:
            new = self._take(batch)
            if new is None:
                break
            try:
                with self._model_lock:
                    batch.model = self._loaded.model  # an adapter added since may wrap the model
                    batch.peft = bool(self._adapters)
                    self._drop_dead(batch)
                    if new:
                        self._deliver(batch, batch.add(new), start=len(batch.jobs) - len(new))
                    if batch.jobs:
                        self._count(batch)
                        self._deliver(batch, batch.step(), start=0)
            except Exception as exc:  # a model failure fails the batch, not the engine
                error = UpstreamError(f"local model failed: {type(exc).__name__}: {exc}")
                for job in {id(j): j for j in [*batch.jobs, *new]}.values():
                    _send(job, error)
                batch.keep([])
            self._running = len(batch.jobs)
        closed = UpstreamError("the local engine was closed", code="engine_stopped")
        for job in [*batch.jobs, *self._pending]:
            _send(job, closed)

    def _count(self, batch: DecodeBatch) -> None:
        st = self.stats
        st["steps"] += 1
        st["max_rows"] = max(st["max_rows"], len(batch.jobs))
        st["max_adapters"] = max(st["max_adapters"], len({j.adapter for j in batch.jobs}))

    def _take(self, batch: DecodeBatch) -> list[Job] | None:
        """New jobs for the batch: none while it is full; when idle, a window's worth; None to stop."""
        s = self.settings
        with self._cv:
            while not batch.jobs and not self._pending and not self._closing:
                self._cv.wait()
            if self._closing:
                return None
            if batch.jobs and not s.continuous:
                return []
            if not batch.jobs:  # idle: the first request waits a moment for company
                end = time.monotonic() + s.batch_window_ms / 1000
                while len(self._pending) < s.max_batch and not self._closing:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self._cv.wait(left)
            taken = self._pop(s.max_batch - len(batch.jobs), batch)
            self._running = len(batch.jobs) + len(taken)
            return taken

    def _pop(self, room: int, batch: DecodeBatch) -> list[Job]:
        """Up to `room` pending jobs in arrival order (one adapter per batch unless mixing)."""
        taken: list[Job] = []
        kept: deque[_Job] = deque()
        now = time.monotonic()
        adapter = batch.jobs[0].adapter if batch.jobs else None
        while self._pending:
            job = self._pending.popleft()
            if job.cancelled or job.deadline <= now:
                _send(job, _expired(job))
                continue
            if not self.settings.mix_adapters:
                if not batch.jobs and not taken:
                    adapter = job.adapter
                if job.adapter != adapter:
                    kept.append(job)
                    continue
            (taken if len(taken) < room else kept).append(job)
        self._pending = kept
        return taken

    def _drop_dead(self, batch: DecodeBatch) -> None:
        now = time.monotonic()
        for job in batch.jobs:
            if not job.cancelled and job.deadline <= now:
                _send(job, _expired(job))
        batch.keep([i for i, j in enumerate(batch.jobs) if not j.cancelled])

    def _deliver(self, batch: DecodeBatch, tokens: list[int], start: int) -> None:
        """Hand each row's new token to its request; rows that finished leave the batch."""
        eos = self._loaded.eos_ids
        done: set[int] = set()
        for i, tok in enumerate(tokens, start):
            job = batch.jobs[i]
            assert isinstance(job, _Job)
            job.generated.append(tok)
            stopped = tok in eos
            delta = "" if stopped else job.decoder.push(tok)
            reason = "stop" if stopped or job.decoder.stopped else None
            if reason is None and len(job.generated) >= job.max_tokens:
                reason = "length"
            if reason is None:
                if delta:
                    _send(job, ChatChunk(delta))
                continue
            usage = Usage(len(job.prompt_ids), len(job.generated))
            _send(job, ChatChunk(delta + job.decoder.finish(), reason, usage))
            self.stats["finished"] += 1
            self._service_s = 0.9 * self._service_s + 0.1 * (time.monotonic() - job.started)
            done.add(i)
        if done:
            batch.keep([i for i in range(len(batch.jobs)) if i not in done])


@dataclass(eq=False)
class _Job(Job):
    """A decode job with its delivery channel back to the asyncio side."""

    decoder: Any = None  # detok.IncrementalDecoder
    timeout_s: float = 0.0
    loop: Any = None  # the submitting asyncio loop
    out: Any = None  # asyncio.Queue of ChatChunk | ApiError
    started: float = field(default_factory=time.monotonic)


def _send(job: Job, item: ChatChunk | ApiError) -> None:
    assert isinstance(job, _Job)
    if isinstance(item, ApiError) or item.finish_reason:
        job.cancelled = True  # nothing more goes to this request
    try:
        job.loop.call_soon_threadsafe(job.out.put_nowait, item)
    except RuntimeError:  # the request's event loop is closed: nobody is listening
        job.cancelled = True


def _expired(job: Job) -> UpstreamTimeout:
    assert isinstance(job, _Job)
    return UpstreamTimeout(
        f"no answer within the deadline ({job.timeout_s:.1f} s); "
        f"{len(job.generated)} tokens were generated"
    )
