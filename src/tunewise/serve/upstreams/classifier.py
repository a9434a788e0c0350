"""The `classifier` upstream: embedding classifiers (issue 15's cheapest variant) as models.

A registered model of kind `classifier` (a folder written by `tunewise.evaluate.classifier`)
answers like any chat model: the last user message is embedded with the bundled MiniLM and the
answer is rendered in the feature's output format. The gateway adds one of these upstreams by
itself when none is configured, so `tunewise registry promote CLASSIFIER --feature F` is all it
takes to ship the classifier behind a feature. Configure one to serve folders without the
registry or to change the batching:

    serve:
      upstreams:
        cheap:
          kind: classifier
          classifiers: {support-router: runs/support/baseline/classifier}
          max_batch: 64

Requests arriving together are embedded in one batch (`max_batch`, `batch_window_ms`); the
embedding runs in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tunewise.errors import ModelError, RegistryError
from tunewise.serve.config import UpstreamConfig
from tunewise.serve.errors import ModelUnavailable, Overloaded
from tunewise.serve.upstreams.base import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    ModelTarget,
    Usage,
    read_options,
    refuse_unsupported,
    register_upstream,
)


class ClassifierOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    classifiers: dict[str, str] = Field(default_factory=dict)
    """Classifier folders served under these names without the registry (loaded at start)."""
    max_batch: int = Field(64, gt=0)
    """Requests embedded together in one batch."""
    batch_window_ms: float = Field(2.0, ge=0)
    """How long the first request of a batch waits for others."""
    max_queue: int = Field(1024, ge=0)
    """Waiting requests before new ones get 429 with Retry-After."""


@dataclass
class _Pending:
    classifier: Any
    messages: list[dict[str, Any]]
    done: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class ClassifierUpstream:
    kind = "classifier"

    def __init__(self, name: str, config: UpstreamConfig) -> None:
        self.name = name
        self.config = config
        self.opts = read_options(name, config, ClassifierOptions)
        self._loaded: dict[str, Any] = {}  # content hash or configured name -> Classifier
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run(), name=f"classifier-{self.name}")
        for served, folder in self.opts.classifiers.items():
            try:
                self._loaded[served] = await asyncio.to_thread(_load, folder)
            except ModelError as exc:
                from tunewise.errors import ConfigError

                raise ConfigError(
                    f"serve.upstreams.{self.name}.classifiers.{served}: {exc}"
                ) from exc

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        while self._queue is not None and not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.done.done():
                pending.done.set_exception(ModelUnavailable("the server is shutting down"))

    def models(self) -> list[str]:
        return list(self.opts.classifiers)

    def serves(self, target: ModelTarget) -> bool:
        if target.kind == "classifier":
            return True
        return target.kind == "base" and target.name in self.opts.classifiers

    async def prepare(self, target: ModelTarget) -> None:
        key = self._key(target)
        if key in self._loaded:
            return
        if not target.path:
            raise ModelUnavailable(f"classifier '{target.name}' has no folder registered")
        try:
            clf = await asyncio.to_thread(_load, target.path, target.content_hash, target.name)
        except (ModelError, RegistryError) as exc:  # moved, changed, another embedder installed
            raise ModelUnavailable(f"cannot serve classifier '{target.name}': {exc}") from exc
        self._loaded[key] = clf

    async def chat(self, req: ChatRequest, target: ModelTarget) -> ChatResult:
        refuse_unsupported(req, self.name)
        clf = self._loaded.get(self._key(target))
        if clf is None:
            raise ModelUnavailable(f"classifier '{target.name}' is not loaded; prepare() it first")
        if self._queue is None:
            raise ModelUnavailable("the classifier upstream is not started")
        if self._queue.qsize() >= self.opts.max_queue:
            raise Overloaded(
                f"upstream '{self.name}' has {self.opts.max_queue} requests waiting",
                retry_after_s=1,
            )
        pending = _Pending(clf, req.messages)
        await self._queue.put(pending)
        answer = await asyncio.wait_for(pending.done, timeout=req.remaining())
        words = sum(len(str(m.get("content") or "").split()) for m in req.messages)
        # Usage in the embedder's terms would mean tokenizing twice; words are an honest proxy.
        return ChatResult(
            answer, "stop", Usage(prompt_tokens=words, completion_tokens=len(answer.split()))
        )

    async def stream(self, req: ChatRequest, target: ModelTarget) -> AsyncIterator[ChatChunk]:
        result = await self.chat(req, target)
        yield ChatChunk(content=result.content)
        yield ChatChunk(finish_reason=result.finish_reason, usage=result.usage)

    def _key(self, target: ModelTarget) -> str:
        if target.kind == "base":
            return target.name
        return target.content_hash or target.path or target.name

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            if self.opts.batch_window_ms:
                await asyncio.sleep(self.opts.batch_window_ms / 1000)
            while len(batch) < self.opts.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            live = [p for p in batch if not p.done.done()]  # timed-out callers are gone
            try:
                answers = await asyncio.to_thread(_predict, live)
            except Exception as exc:
                for p in live:
                    if not p.done.done():
                        p.done.set_exception(exc)
                continue
            for p, answer in zip(live, answers, strict=True):
                if not p.done.done():
                    p.done.set_result(answer)


def _load(folder: str, registered_hash: str | None = None, name: str = "") -> Any:
    """The classifier folder, refused when it is no longer the one the registry pinned."""
    from tunewise.evaluate.classifier import load_classifier

    if registered_hash:
        from tunewise.registry.integrity import verify_folder

        verify_folder(name or folder, folder, registered_hash)
    return load_classifier(folder)


def _predict(batch: list[_Pending]) -> list[str]:
    """One embedding pass per classifier in the batch (usually one), answers in request order."""
    answers: list[str | None] = [None] * len(batch)
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(batch):
        groups.setdefault(id(p.classifier), []).append(i)
    for idx in groups.values():
        clf = batch[idx[0]].classifier
        for i, answer in zip(idx, clf.predict_batch([batch[i].messages for i in idx]), strict=True):
            answers[i] = answer
    return [a or "" for a in answers]


register_upstream("classifier", ClassifierUpstream)
