"""The runner: one variant on one golden set, every case generated (or read from the cache) and scored.

Settings are deterministic (temperature 0, fixed max tokens). Each case records its output, scores
with reasons, latency, tokens in/out and cost. Local models generate in batches, remote ones in
parallel; a Rich progress bar on stderr follows along.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .backends import Messages, Settings, make_backend
from .cache import GenerationCache, complete_cached
from .fewshot import load_examples, select_examples, with_examples
from .golden import Case, GoldenSet
from .scorers import Score, Scorer
from .variants import Variant


@dataclass
class CaseResult:
    """One case's answer, scores and costs."""

    id: str
    tags: list[str]
    output: str
    expected: Any
    scores: dict[str, float]
    reasons: dict[str, str]
    latency_s: float
    tokens_in: int
    tokens_out: int
    cost_usd: float
    cached: bool = False
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    """A variant's results on a golden set."""

    label: str
    variant: dict[str, Any]
    identity: dict[str, Any]
    golden_path: str
    golden_hash: str
    settings: dict[str, Any]
    binary_metrics: list[str]
    cases: list[CaseResult]
    wall_s: float = 0.0
    cache_hits: int = 0

    def metrics(self) -> list[str]:
        return list(self.cases[0].scores) if self.cases else []

    def scores(self, metric: str) -> list[float]:
        return [c.scores[metric] for c in self.cases]

    def means(self) -> dict[str, float]:
        return {m: sum(self.scores(m)) / len(self.cases) for m in self.metrics()}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        cases = [CaseResult(**c) for c in data["cases"]]
        return cls(**{**data, "cases": cases})


def price_per_million(variant: Variant) -> tuple[float, float]:
    """(input, output) dollars per 1M tokens: explicit prices, else the bundled table; local is free."""
    if variant.price_input is not None or variant.price_output is not None:
        return variant.price_input or 0.0, variant.price_output or 0.0
    if variant.kind == "local":
        return 0.0, 0.0
    try:
        from tunewise.data.cost import find_price
    except ImportError:
        return 0.0, 0.0
    price = find_price(f"{variant.kind}:{variant.model}")
    if price is None:
        return 0.0, 0.0
    tuned = variant.model.startswith("ft:") or "custom-model" in variant.model
    return (price.ft_input, price.ft_output) if tuned else (price.base_input, price.base_output)


class _Bar:
    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self.progress = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=Console(stderr=True), transient=True,
            )  # fmt: skip
            self.task = self.progress.add_task(label, total=total)

    def __enter__(self) -> _Bar:
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            self.progress.stop()

    def advance(self, n: int) -> None:
        if self.progress:
            self.progress.advance(self.task, n)


def build_prompts(golden: GoldenSet, variant: Variant) -> list[Messages]:
    """Each case's conversation under the variant's prompt strategy."""
    strategy = variant.prompt
    if strategy.few_shot == 0:
        return [c.messages for c in golden.cases]
    if not strategy.train:
        from tunewise.errors import ConfigError

        raise ConfigError(
            f"variant {variant.label()}: few_shot={strategy.few_shot} needs a train file (--train FILE)"
        )
    shots = select_examples(golden.cases, load_examples(strategy.train), strategy)
    return [with_examples(c.messages, ex) for c, ex in zip(golden.cases, shots, strict=True)]


def score_all(
    scorers: list[Scorer], outputs: list[str], cases: list[Case]
) -> list[dict[str, Score]]:
    """Every scorer on every case; a scorer with `score_batch` (the judge) gets all cases at once."""
    table: list[dict[str, Score]] = [{} for _ in cases]
    for s in scorers:
        batch = getattr(s, "score_batch", None)
        results = (
            batch(outputs, cases)
            if batch
            else [s(o, c) for o, c in zip(outputs, cases, strict=True)]
        )
        for row, score in zip(table, results, strict=True):
            row[s.name] = score
    return table


def run_eval(
    golden: GoldenSet,
    variant: Variant,
    scorers: list[Scorer],
    settings: Settings | None = None,
    *,
    cache: bool = True,
    progress: bool = True,
) -> RunResult:
    """Generate and score every golden case with one variant."""
    settings = settings or Settings()
    backend = make_backend(variant)
    identity = backend.identity()
    prompts = build_prompts(golden, variant)
    t0 = time.perf_counter()
    with _Bar(f"eval {variant.label()}", len(prompts), progress) as bar:
        completions, hits = complete_cached(
            backend,
            prompts,
            settings,
            cache=GenerationCache() if cache else None,
            progress=bar,
            identity=identity,
        )
    wall = time.perf_counter() - t0
    p_in, p_out = price_per_million(variant)
    outputs = [c.text for c in completions]
    scored = score_all(scorers, outputs, golden.cases)
    cases = [
        CaseResult(
            id=case.id,
            tags=case.tags,
            output=comp.text,
            expected=case.expected,
            scores={k: float(s.value) for k, s in sc.items()},
            reasons={k: s.reason for k, s in sc.items()},
            latency_s=comp.latency_s,
            tokens_in=comp.tokens_in,
            tokens_out=comp.tokens_out,
            cost_usd=(comp.tokens_in * p_in + comp.tokens_out * p_out) / 1e6,
            cached=hit,
            error=comp.error,
            detail={k: s.detail for k, s in sc.items() if s.detail},
        )
        for case, comp, hit, sc in zip(golden.cases, completions, hits, scored, strict=True)
    ]
    return RunResult(
        label=variant.label(),
        variant=variant.model_dump(),
        identity=identity,
        golden_path=golden.path,
        golden_hash=golden.hash,
        settings=asdict(settings),
        binary_metrics=[s.name for s in scorers if s.binary],
        cases=cases,
        wall_s=wall,
        cache_hits=sum(hits),
    )
