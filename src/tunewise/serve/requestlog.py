"""The request log: one row per chat request, written in batches off the request path.

`record(exchange)` only appends to an in-memory buffer (bounded by `serve.log_queue`; beyond it
rows are dropped and counted, so logging never slows or fails a request). Every
`serve.log_flush_s` the buffer is written in one transaction on a worker thread: online scores
are computed for every row, and for the sampled share (`serve.log_sample`) the prompt and answer
text are PII-scrubbed with the data stage's scrubber (`data.pii` in tunewise.yaml) before they
are written. The user id is stored as a hash. Rows older than `serve.log_retention_days` are
deleted once an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tunewise.serve.config import ServeConfig
from tunewise.serve.exchange import Exchange
from tunewise.serve.metrics import Metrics
from tunewise.serve.routing import user_hash

log = logging.getLogger("tunewise.serve")
PURGE_EVERY_S = 3600.0


class RequestLog:
    def __init__(
        self,
        engine: Callable[[], Any],
        config: ServeConfig,
        metrics: Metrics,
        pii: Any = None,
    ) -> None:
        self._engine = engine
        self.config = config
        self.metrics = metrics
        self.pii = pii
        self.schema: dict[str, Any] | None = None
        """The project's output JSON Schema, when it has one (the `json_schema` score)."""
        self.server = f"{socket.gethostname()}:{os.getpid()}"[:128]
        self._buf: list[tuple[Exchange, bool]] = []
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._last_purge = 0.0
        self._rng = random.Random()

    def record(self, ex: Exchange) -> None:
        """Queue a finished request (called on the event loop; never blocks, never raises)."""
        if len(self._buf) >= self.config.log_queue:
            self.metrics.log_dropped.inc()
            return
        sampled = self._rng.random() < self.config.log_sample
        if not sampled:
            ex.messages = None  # raw text of unsampled requests is not kept
        self._buf.append((ex, sampled))

    async def start(self) -> None:
        # Load the scrubber now (Presidio takes many seconds), not in the first flush.
        await asyncio.to_thread(self._scrubbed, [{"role": "user", "content": "warm up"}], "ok")
        self._closing = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Write what is buffered; a write in progress is finished, not abandoned."""
        self._closing.set()
        if self._task is not None:
            await self._task
        await self.flush()

    async def _run(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.config.log_flush_s)
            await self.flush()

    async def flush(self) -> None:
        batch, self._buf = self._buf, []
        if not batch:
            return
        try:
            await asyncio.to_thread(self._write, batch)
        except Exception as exc:  # the log must never take the server down
            self.metrics.log_dropped.inc(len(batch))
            log.warning("writing %d request-log rows failed: %s", len(batch), exc)

    def _write(self, batch: list[tuple[Exchange, bool]]) -> None:
        from sqlalchemy import delete, insert

        from tunewise.serve.tables import RequestLogRow
        from tunewise.store import transaction

        rows = [self.row(ex, sampled) for ex, sampled in batch]
        engine = self._engine()
        with transaction(engine) as s:
            s.execute(insert(RequestLogRow), rows)
        self.metrics.log_written.inc(len(rows))
        if time.monotonic() - self._last_purge > PURGE_EVERY_S:
            self._last_purge = time.monotonic()
            cutoff = batch[-1][0].at - timedelta(days=self.config.log_retention_days)
            with transaction(engine) as s:
                s.execute(delete(RequestLogRow).where(RequestLogRow.at < cutoff))

    def row(self, ex: Exchange, sampled: bool) -> dict[str, Any]:
        from tunewise.serve.scores import online_scores

        prompt = answer = None
        if sampled and ex.answer is not None:
            prompt, answer = self._scrubbed(ex.messages or [], ex.answer)
        return {
            "at": ex.at,
            "request_id": ex.request_id,
            "server": self.server,
            "requested": ex.requested,
            "feature": ex.feature,
            "arm": ex.arm,
            "model": ex.model,
            "upstream": ex.upstream,
            "user_hash": user_hash(ex.user) if ex.user else None,
            "stream": ex.stream,
            "status": ex.status,
            "error_code": ex.error_code,
            "fallback": ex.fallback,
            "canary_error": ex.canary_error,
            "retries": ex.retries,
            "latency_ms": round(ex.latency_ms, 3),
            "ttft_ms": round(ex.first_token_s * 1000, 3) if ex.first_token_s is not None else None,
            "tokens_in": ex.tokens_in,
            "tokens_out": ex.tokens_out,
            "scores": online_scores(ex.answer, self.schema)
            if ex.answer is not None and ex.status < 400
            else None,
            "prompt": prompt,
            "answer": answer,
        }

    def _scrubbed(self, messages: list[dict[str, Any]], answer: str) -> tuple[str, str]:
        """Prompt (JSON) and answer with PII replaced; one placeholder table for both."""
        from tunewise.data.config import PIIConfig
        from tunewise.data.pii import Placeholders, redact_text

        cfg = (self.pii or PIIConfig()).model_copy(update={"engine": self.config.log_pii_engine})
        mapping = Placeholders()
        clean = []
        for m in messages:
            content = m.get("content")
            if isinstance(content, list):  # text parts; anything else is not logged
                content = "".join(
                    p.get("text", "")
                    for p in content
                    if isinstance(p, dict) and p.get("type") == "text"
                )
            clean.append({**m, "content": redact_text(str(content or ""), cfg, mapping)})
        return json.dumps(clean, ensure_ascii=False), redact_text(answer, cfg, mapping)
