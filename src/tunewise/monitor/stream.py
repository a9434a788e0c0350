"""One pass over a window's requests in bounded memory.

The request log can hold millions of rows (read from PostgreSQL in pages), so nothing keeps them
all: `WindowPass.add(request)` updates
- the traffic counts (per arm and day, texts, reviews, errors): counters;
- live quality (quality.LiveQuality): running sums per arm and day, a latency sketch;
- output drift (outputs.AnswerStats): label counts and the answer-length histogram;
- input drift: a seeded reservoir (Vitter's Algorithm R) of at most `capacity` prompts, which
  `sample(n)` later cuts to the size the power rule asks for (a uniform sample of a uniform sample
  is uniform).
Memory grows with the arms, days, labels and the reservoir's capacity, never with the rows.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tunewise.evaluate.scorers import Scorer
from tunewise.monitor.outputs import AnswerStats
from tunewise.monitor.quality import LiveQuality
from tunewise.monitor.requests import Request


@dataclass(frozen=True, slots=True)
class Prompt:
    """A sampled production input: its position in the stream, text and day."""

    index: int
    text: str
    day: str


T = TypeVar("T")


class Reservoir(Generic[T]):
    """A uniform sample of at most `capacity` items of a stream of unknown length (Algorithm R)."""

    def __init__(self, capacity: int, seed: int) -> None:
        self.capacity = capacity
        self.items: list[T] = []
        self.seen = 0
        self._rng = random.Random(seed)

    def add(self, item: T) -> None:
        self.seen += 1
        if len(self.items) < self.capacity:
            self.items.append(item)
            return
        j = self._rng.randrange(self.seen)
        if j < self.capacity:
            self.items[j] = item

    def sample(self, n: int) -> list[T]:
        """n of the kept items, uniformly (seeded), in the order they were kept."""
        if n >= len(self.items):
            return list(self.items)
        picked = sorted(self._rng.sample(range(len(self.items)), n))
        return [self.items[i] for i in picked]


class WindowPass:
    """Everything the report needs from the requests, collected in one pass."""

    def __init__(
        self,
        train_answers: list[str],
        label_field: str | None,
        scorers: list[Scorer],
        model: str | None,
        *,
        capacity: int,
        seed: int,
        reference: list[Scorer] | None = None,
    ) -> None:
        self.quality = LiveQuality(scorers, model, reference)
        self.answers = AnswerStats(train_answers, label_field)
        self.prompts: Reservoir[Prompt] = Reservoir(capacity, seed)
        self.arms: Counter[str] = Counter()
        self.days: Counter[str] = Counter()
        self.n = self.with_prompt = self.with_answer = self.reviewed = self.errors = 0

    def add(self, req: Request) -> None:
        self.n += 1
        self.arms[req.arm] += 1
        self.days[req.day] += 1
        self.with_answer += req.answer is not None
        self.reviewed += req.review is not None
        self.errors += not req.ok
        if req.prompt is not None:
            self.with_prompt += 1
            if req.prompt:
                self.prompts.add(Prompt(self.n, req.prompt, req.day))
        if req.ok and req.answer is not None:
            self.answers.add(req.answer)
        self.quality.add(req)

    def consume(self, requests: Iterable[Request]) -> WindowPass:
        for req in requests:
            self.add(req)
        return self

    def traffic(self) -> dict[str, Any]:
        """Counts: requests per arm and day, sampled texts, reviews, errors."""
        return {
            "requests": self.n,
            "by_arm": dict(sorted(self.arms.items())),
            "by_day": dict(sorted(self.days.items())),
            "with_prompt": self.with_prompt,
            "with_answer": self.with_answer,
            "reviewed": self.reviewed,
            "errors": self.errors,
        }
