"""Shadow traffic: a share of control's requests replayed to the candidate, off the request path.

The gateway calls `Mirror.observe(exchange)` when a request has been answered (the user already
has control's answer). For a feature in its shadow stage, a `shadow_percent` share of control's
successful requests is sent again, as a plain (non-streamed) call, to the candidate on
`FEATURE@canary` in a background task: the user never sees its answer, and its latency and
failures never reach the user's request. At most `rollout.shadow_concurrency` calls are in
flight per server; beyond that a request is skipped (counted), never queued. Both answers are
scored with the same scorers as the request log, their agreement is recorded (the same label
when the answers are JSON with the rollout's `eval.label_field`, else the same normalized text), and each pair
is written in batches to `rollout_shadow`, which the controller judges.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tunewise.serve.exchange import Exchange

log = logging.getLogger("tunewise.serve")


@dataclass(frozen=True)
class Shadow:
    rollout_id: int
    percent: float
    model: str
    label_field: str | None = None
    """The JSON field whose equality counts as agreement (the rollout's `eval.label_field`)."""


@dataclass
class _Pair:
    rollout_id: int
    at: datetime
    request_id: str
    model: str
    control_answer: str
    control_latency_ms: float
    label_field: str | None = None
    status: int = 200
    error_code: str | None = None
    answer: str | None = None
    latency_ms: float | None = None


def agreement(a: str, b: str, label_field: str | None) -> bool:
    """Same label (JSON answers with `label_field`) or the same text, case and spaces aside."""
    if label_field:
        from tunewise.evaluate.scorers import parse_json

        try:
            left, right = parse_json(a), parse_json(b)
            if isinstance(left, dict) and isinstance(right, dict):
                return left.get(label_field) == right.get(label_field)
        except ValueError:
            pass
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


class Mirror:
    """Replays sampled control requests to candidates; see the module doc."""

    def __init__(
        self,
        gateway: Any,
        engine: Callable[[], Any],
        *,
        concurrency: int = 4,
        flush_s: float = 1.0,
        schema: dict[str, Any] | None = None,
    ) -> None:
        self.gateway = gateway
        self._engine = engine
        self.concurrency = concurrency
        self.flush_s = flush_s
        self.schema = schema
        self.shadows: dict[str, Shadow] = {}
        """feature -> its shadow stage; swapped by the controller loop."""
        self.skipped = 0
        self._inflight: set[asyncio.Task[None]] = set()
        self._buf: list[_Pair] = []
        self._rng = random.Random()
        self._task: asyncio.Task[None] | None = None

    def observe(self, ex: Exchange) -> None:
        """Maybe mirror a finished request (on the event loop; never blocks, never raises)."""
        shadow = self.shadows.get(ex.feature or "")
        if shadow is None or ex.arm != "control" or ex.fallback or ex.status >= 400:
            return
        if ex.answer is None or ex.request is None or self._rng.random() * 100 >= shadow.percent:
            return
        if len(self._inflight) >= self.concurrency:
            self.skipped += 1
            return
        pair = _Pair(shadow.rollout_id, ex.at, ex.request_id, shadow.model, ex.answer,
                     ex.latency_ms, shadow.label_field)  # fmt: skip
        task = asyncio.get_running_loop().create_task(self._call(ex.request, pair))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _call(self, creq: Any, pair: _Pair) -> None:
        from tunewise.serve.dispatch import as_api_error

        gw = self.gateway
        started = time.monotonic()
        try:
            target = gw.catalog.find_model(pair.model)
            if target is None:
                return  # the candidate left the catalog (rollout ended): nothing to compare
            up, cfg = gw.upstream_for(target)
            req = gw.chat_request(creq, cfg, pair.request_id)
            async with asyncio.timeout(req.remaining()):
                await gw._prepare(up, target)
                result = await up.chat(req, target)
            pair.answer = result.content
        except Exception as raw:  # a failing candidate is a finding, not an error here
            exc = as_api_error(raw)
            pair.status, pair.error_code = exc.status, exc.code
        pair.latency_ms = 1000 * (time.monotonic() - started)
        self._buf.append(pair)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            await self.flush()

    async def flush(self) -> None:
        batch, self._buf = self._buf, []
        if batch:
            try:
                await asyncio.to_thread(self._write, batch)
            except Exception as exc:  # shadow data is best effort; the server goes on
                log.warning("writing %d shadow pairs failed: %s", len(batch), exc)

    def _write(self, batch: list[_Pair]) -> None:
        from sqlalchemy import insert

        from tunewise.serve.rollout.tables import ShadowPair
        from tunewise.serve.scores import online_scores
        from tunewise.store import transaction

        rows = []
        for p in batch:
            ok = p.answer is not None and p.status < 400
            rows.append({
                "rollout_id": p.rollout_id, "at": p.at.astimezone(UTC), "request_id": p.request_id,
                "model": p.model, "status": p.status, "error_code": p.error_code,
                "agree": agreement(p.control_answer, p.answer or "", p.label_field) if ok else None,
                "control_latency_ms": round(p.control_latency_ms, 3),
                "latency_ms": round(p.latency_ms, 3) if p.latency_ms is not None else None,
                "control_scores": online_scores(p.control_answer, self.schema),
                "scores": online_scores(p.answer or "", self.schema) if ok else None,
            })  # fmt: skip
        with transaction(self._engine()) as s:
            s.execute(insert(ShadowPair), rows)
