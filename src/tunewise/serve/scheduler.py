"""The engine's worker thread: a bounded queue feeding the running batch, one decode step at a time.

When the batch is empty, the first request waits `batch_window_ms` for company. While it runs, new
requests join at the next step boundary (continuous batching; `continuous: false` makes a batch
run to its end first), each row leaves as it finishes, and tokens go back to each request's
asyncio queue as they come. Rows past their deadline or abandoned by their client are dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunewise.serve.decode import DecodeBatch, Job
from tunewise.serve.errors import ApiError, Overloaded, UpstreamError, UpstreamTimeout
from tunewise.serve.upstreams.base import ChatChunk, Usage

if TYPE_CHECKING:
    from tunewise.serve.engine import EngineSettings


class Scheduler:
    """Admits queued requests into the batch and runs it on a thread of its own."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.loaded: Any = None  # weights.LoadedBase, set by start()
        self.pending: deque[Request] = deque()
        self.running = 0
        self.cv = threading.Condition()
        self.model_lock = threading.Lock()  # held per step, and by whoever changes the model
        self.stats = {"steps": 0, "max_rows": 0, "max_adapters": 0, "finished": 0}
        """Counters for metrics and tests: decode steps, most rows and adapters in one."""
        self._service_s = 1.0  # moving average of a request's time in a row, for Retry-After
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and not self._closing

    def start(self, loaded: Any) -> None:
        self.loaded = loaded
        self._thread = threading.Thread(target=self._run, name="tunewise-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker; waiting and running requests get an error. Blocks until it is done."""
        with self.cv:
            self._closing = True
            self.cv.notify_all()
        if self._thread is not None:
            self._thread.join()

    def enqueue(self, req: Request) -> None:
        """Queue a request, or raise Overloaded when every row is busy and the queue is full."""
        with self.cv:
            free_rows = max(0, self.settings.max_batch - self.running)
            if len(self.pending) >= self.settings.max_queue + free_rows:
                raise Overloaded(
                    f"the local model is busy: {self.running} requests running, "
                    f"{len(self.pending)} waiting (the queue holds {self.settings.max_queue})",
                    retry_after_s=self._retry_after(),
                )
            self.pending.append(req)
            self.cv.notify()

    def _retry_after(self) -> float:
        rounds = len(self.pending) / max(1, self.settings.max_batch)
        return max(1.0, rounds * self._service_s)

    def _run(self) -> None:
        batch = DecodeBatch(self.loaded.model, peft=False, device=self.loaded.device)
        while True:
            new = self._take(batch)
            if new is None:
                break
            try:
                with self.model_lock:
                    batch.model = self.loaded.model  # an adapter added since may wrap the model
                    batch.peft = _is_peft(batch.model)
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
            self.running = len(batch.jobs)
        closed = UpstreamError("the local engine was closed", code="engine_stopped")
        for job in [*batch.jobs, *self.pending]:
            _send(job, closed)

    def _count(self, batch: DecodeBatch) -> None:
        st = self.stats
        st["steps"] += 1
        st["max_rows"] = max(st["max_rows"], len(batch.jobs))
        st["max_adapters"] = max(st["max_adapters"], len({j.adapter for j in batch.jobs}))

    def _take(self, batch: DecodeBatch) -> list[Job] | None:
        """New jobs for the batch: none while it is full; when idle, a window's worth; None to stop."""
        s = self.settings
        with self.cv:
            while not batch.jobs and not self.pending and not self._closing:
                self.cv.wait()
            if self._closing:
                return None
            if batch.jobs and not s.continuous:
                return []
            if not batch.jobs:  # idle: the first request waits a moment for company
                end = time.monotonic() + s.batch_window_ms / 1000
                while len(self.pending) < s.max_batch and not self._closing:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self.cv.wait(left)
            taken = self._pop(s.max_batch - len(batch.jobs), batch)
            self.running = len(batch.jobs) + len(taken)
            return taken

    def _pop(self, room: int, batch: DecodeBatch) -> list[Job]:
        """Up to `room` pending jobs in arrival order (one adapter per batch unless mixing)."""
        taken: list[Job] = []
        kept: deque[Request] = deque()
        now = time.monotonic()
        adapter = batch.jobs[0].adapter if batch.jobs else None
        while self.pending:
            job = self.pending.popleft()
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
        self.pending = kept
        return taken

    def _drop_dead(self, batch: DecodeBatch) -> None:
        now = time.monotonic()
        for job in batch.jobs:
            if not job.cancelled and job.deadline <= now:
                _send(job, _expired(job))
        batch.keep([i for i, j in enumerate(batch.jobs) if not j.cancelled])

    def _deliver(self, batch: DecodeBatch, tokens: list[int], start: int) -> None:
        """Hand each row's new token to its request; rows that finished leave the batch."""
        eos = self.loaded.eos_ids
        done: set[int] = set()
        finals: list[tuple[Job, ChatChunk]] = []
        for i, tok in enumerate(tokens, start):
            job = batch.jobs[i]
            assert isinstance(job, Request)
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
            finals.append((job, ChatChunk(delta + job.decoder.finish(), reason, usage)))
            self.stats["finished"] += 1
            self._service_s = 0.9 * self._service_s + 0.1 * (time.monotonic() - job.started)
            done.add(i)
        if done:
            batch.keep([i for i in range(len(batch.jobs)) if i not in done])
            # Free the rows before the last chunks go out: a client that sends its next request
            # as soon as it has its answer must find the row free, not a 429 (seen on loaded CI).
            with self.cv:
                self.running = len(batch.jobs)
        for job, chunk in finals:
            _send(job, chunk)


@dataclass(eq=False)
class Request(Job):
    """A decode job with its delivery channel back to the asyncio side."""

    decoder: Any = None  # detok.IncrementalDecoder
    timeout_s: float = 0.0
    loop: Any = None  # the submitting asyncio loop
    out: Any = None  # asyncio.Queue of ChatChunk | ApiError
    started: float = field(default_factory=time.monotonic)


def _send(job: Job, item: ChatChunk | ApiError) -> None:
    assert isinstance(job, Request)
    if isinstance(item, ApiError) or item.finish_reason:
        job.cancelled = True  # nothing more goes to this request
    try:
        job.loop.call_soon_threadsafe(job.out.put_nowait, item)
    except RuntimeError:  # the request's event loop is closed: nobody is listening
        job.cancelled = True


def _expired(job: Job) -> UpstreamTimeout:
    assert isinstance(job, Request)
    return UpstreamTimeout(
        f"no answer within the deadline ({job.timeout_s:.1f} s); "
        f"{len(job.generated)} tokens were generated"
    )


def _is_peft(model: Any) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # no adapters without peft
        return False
    return isinstance(model, PeftModel)
