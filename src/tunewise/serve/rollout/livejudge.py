"""The LLM judge on live traffic: a sample of each arm's answers scored off the request path.

A rollout started with a judge (the `judge` scorer of the project's `eval.scorers`, recorded
in the rollout's settings) has a `judge` metric. Every server hands each finished request of
that feature to `LiveJudge.observe` (on the event loop, after the user has the answer): a
`rollout.judge_sample` share of each arm's successful answers waits in a per-arm queue of at
most `rollout.judge_queue` (beyond it an answer is skipped and counted, never queued). A
background task judges one batch of at most `rollout.judge_batch` at a time, arms taken in
turn, in a worker thread, so the judge's latency and failures never reach a user.

The judge is the evaluate stage's own `JudgeScorer` with the configured model and rubric; with
no reference answer on live traffic the prompt holds the task and the answer only, and the
default rubric is swapped for a reference-free one. Its score (0..1: (score - 1) / 4) is
written into the answer's request-log row as `scores.judge`, so each response is judged once
and the controller reads it like any other score (look.py). A repeated (prompt, answer) is
answered from a bounded in-memory memo, not the evaluate stage's disk cache (one file per
reply would pile up on a busy server). A judge reply without a score, or a judge that fails,
scores nothing (counted): the judge's trouble is not the answer's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tunewise.serve.exchange import Exchange

log = logging.getLogger("tunewise.serve")

LIVE_RUBRIC = (
    "Rate how well the answer does the task asked in the conversation: 5 = correct, complete "
    "and in the expected format, 3 = partly correct, 1 = wrong, harmful, off-topic or no answer."
)
WRITE_TRIES = 30
"""Passes a score waits for its request-log row (written in batches by the log writer)."""
MEMO = 4096
"""Judgements of recent (judge, prompt, answer) kept in memory."""


@dataclass(frozen=True)
class Judged:
    """A feature whose live rollout has a judge."""

    rollout_id: int
    params: dict[str, Any]
    """The judge scorer's parameters (model, rubric, ...) as in `eval.scorers`."""
    sample: float


@dataclass
class _Item:
    feature: str
    request_id: str
    messages: list[dict[str, Any]]
    answer: str
    params: dict[str, Any]


def live_scorer(params: dict[str, Any]) -> Any:
    """The evaluate stage's judge for live answers (the reference-free rubric by default)."""
    from tunewise.evaluate.scorers import JUDGE_RUBRIC, build_scorer

    scorer = build_scorer("judge", params)
    rubric = LIVE_RUBRIC if scorer.rubric == JUDGE_RUBRIC else scorer.rubric  # type: ignore[attr-defined]
    return dataclasses.replace(scorer, rubric=rubric, disk_cache=False)  # type: ignore[type-var]


def judge_answers(params: dict[str, Any], items: list[_Item]) -> list[float | None]:
    """Judge scores 0..1 (None: the judge gave no score), one per item."""
    from tunewise.evaluate.golden import Case

    cases = [Case(id=i.request_id, messages=i.messages, expected=None) for i in items]
    scores = live_scorer(params).score_batch([i.answer for i in items], cases)
    return [s.value if "scores" in s.detail else None for s in scores]


class LiveJudge:
    """Samples, judges and records live answers; see the module doc."""

    def __init__(self, engine: Callable[[], Any], *, batch: int = 8, queue: int = 64,
                 every_s: float = 0.5) -> None:  # fmt: skip
        self._engine = engine
        self.batch, self.every_s = batch, every_s
        self.judged: dict[str, Judged] = {}
        """feature -> its rollout's judge; swapped by the controller loop."""
        self.waiting = {arm: deque[_Item](maxlen=queue) for arm in ("control", "canary")}
        self.unwritten: list[tuple[_Item, float, int]] = []
        self.counts = {"sampled": 0, "skipped": 0, "scored": 0, "no_score": 0, "failed": 0,
                       "memo_hits": 0}  # fmt: skip
        self.memo: OrderedDict[str, float | None] = OrderedDict()
        self._rng = random.Random()
        self._task: asyncio.Task[None] | None = None

    def observe(self, ex: Exchange) -> None:
        """Maybe queue a finished request for the judge (never blocks, never raises)."""
        judged = self.judged.get(ex.feature or "")
        if judged is None or ex.arm not in self.waiting or ex.fallback or ex.status >= 400:
            return
        if ex.answer is None or not ex.messages or self._rng.random() >= judged.sample:
            return
        queue = self.waiting[ex.arm]
        if len(queue) == queue.maxlen:
            self.counts["skipped"] += 1
            return
        self.counts["sampled"] += 1
        queue.append(_Item(ex.feature or "", ex.request_id, ex.messages, ex.answer, judged.params))

    def _take(self) -> list[_Item]:
        """Up to `batch` waiting answers, the arms in turn (the canary's few are not crowded out)."""
        out: list[_Item] = []
        while len(out) < self.batch and any(self.waiting.values()):
            for queue in self.waiting.values():
                if queue and len(out) < self.batch:
                    out.append(queue.popleft())
        return out

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:  # the judge is best effort; serving goes on
                log.exception("live judge pass failed")

    def run_once(self) -> None:
        """Judge one batch and write every score whose log row exists (in a worker thread)."""
        items = self._take()
        by_judge: dict[str, list[_Item]] = {}
        for item in items:
            by_judge.setdefault(repr(sorted(item.params.items())), []).append(item)
        for group in by_judge.values():
            for item, value in zip(group, self._judge(group), strict=True):
                if value is None:
                    self.counts["no_score"] += 1
                else:
                    self.unwritten.append((item, value, 0))
        self._write()

    def _judge(self, group: list[_Item]) -> list[float | None]:
        """Scores of one judge's items: the memo's, then one call for the rest."""
        keys = [json.dumps([i.params, i.messages, i.answer], sort_keys=True) for i in group]
        new = [(i, k) for i, k in zip(group, keys, strict=True) if k not in self.memo]
        self.counts["memo_hits"] += len(group) - len(new)
        if new:
            try:
                values = judge_answers(new[0][0].params, [i for i, _ in new])
            except Exception as exc:  # a judge that is down scores nothing; answers are not worse
                self.counts["failed"] += len(new)
                log.warning("the live judge failed on %d answers: %s", len(new), exc)
                values = [None] * len(new)
            for (_, key), value in zip(new, values, strict=True):
                if value is not None:  # a judge that gave no score is asked again next time
                    self.memo[key] = value
                    while len(self.memo) > MEMO:
                        self.memo.popitem(last=False)
        return [self.memo.get(k) for k in keys]

    def _write(self) -> None:
        from sqlalchemy import select

        from tunewise.serve.tables import RequestLogRow
        from tunewise.store import transaction

        if not self.unwritten:
            return
        pending = {item.request_id: (item, value, tries) for item, value, tries in self.unwritten}
        with transaction(self._engine()) as s:
            query = select(RequestLogRow).where(RequestLogRow.request_id.in_(list(pending)))
            for row in s.scalars(query):
                found = pending.pop(row.request_id, None)
                if found is not None and row.feature == found[0].feature:
                    row.scores = {**(row.scores or {}), "judge": round(found[1], 6)}
                    self.counts["scored"] += 1
        # Rows not written yet are tried again next pass; after that they are given up.
        self.unwritten = [(i, v, t + 1) for i, v, t in pending.values() if t + 1 < WRITE_TRIES]
