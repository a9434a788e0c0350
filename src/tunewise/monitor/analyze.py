"""`analyze`: one monitor report from plain inputs (logged requests and the training examples).

Embedding every logged prompt is the one costly step (MiniLM runs at tens to a hundred texts/s on
2 CPU cores), so the drift checks embed a seeded uniform sample of the prompts, sized by the test's
power: the domain classifier's AUC has a null standard error of sqrt((m+n+1)/(12mn)) for m training
and n production rows, and the sample is the smallest n that keeps it within 10% of its value with
all N prompts (at least 1,000, at most `embed_sample`). With m = 276 and N = 10,000 that is
about 1,140 prompts.
The report gives both standard errors. Counts, quality, label mix and lengths use every row.

The requests are read once, as a stream (stream.py): memory stays flat however many rows the
window holds; the prompts to embed come from a reservoir of at most `embed_sample`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from tunewise import __version__
from tunewise.artifacts import sha256_file
from tunewise.errors import DataError, require
from tunewise.evaluate.scorers import Scorer
from tunewise.monitor import clusters, drift, outputs, quality
from tunewise.monitor.config import MonitorConfig
from tunewise.monitor.context import ModelContext, staleness
from tunewise.monitor.embed import MODEL_NAME, cached_embed, embed
from tunewise.monitor.requests import Request
from tunewise.monitor.stream import Prompt, Reservoir, WindowPass

Example = tuple[str, str]


def _sample(n: int, k: int, seed: int) -> list[int]:
    import numpy as np

    if n <= k:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n, size=k, replace=False).tolist())


MIN_SAMPLE = 1000  # below this many prompts, embed them all: cheap, and days keep their rows


def power_sample_size(m: int, total: int, cap: int, tolerance: float = 0.1) -> int:
    """Smallest n with null_se(m, n) <= (1 + tolerance) * null_se(m, total), at least MIN_SAMPLE,
    at most `cap` and `total`.

    SE^2 is proportional to (m+n+1)/(mn) = (1 + 1/m)/n + 1/m, so n = 1 / (t/N + (t-1)/(m+1)),
    t = (1 + tolerance)^2.
    """
    if total <= 0 or m <= 0:
        return min(total, cap)
    t = (1 + tolerance) ** 2
    n = max(MIN_SAMPLE, math.ceil(1 / (t / total + (t - 1) / (m + 1))))
    return int(min(total, cap, n))


def input_drift(
    prompts: Reservoir[Prompt],
    train: Sequence[Example],
    ctx: ModelContext,
    cfg: MonitorConfig,
    scrub: Callable[[str], str],
) -> dict[str, Any]:
    """Classifier, outliers, drift per day and grown clusters on MiniLM embeddings of a sample of
    the prompts (drawn from the pass's reservoir)."""
    train_texts = [train[i][0] for i in _sample(len(train), cfg.reference_sample, cfg.seed)]
    size = power_sample_size(len(train_texts), prompts.seen, cfg.embed_sample, cfg.sample_tolerance)
    picked = sorted(prompts.sample(size), key=lambda p: p.index)  # stream order
    if len(picked) < drift.MIN_ROWS or len(train_texts) < drift.MIN_ROWS:
        return {"skipped": f"needs {drift.MIN_ROWS}+ sampled prompts and training rows "
                f"(have {len(picked)} and {len(train_texts)})"}  # fmt: skip
    # The cache is keyed by the dataset version's manifest hash, else by the train file's bytes.
    key = ctx.dataset_sha256 or (sha256_file(ctx.train_path) if ctx.train_path else None)
    ref, cache = cached_embed(train_texts, key)
    prod_texts = [p.text for p in picked]
    start = time.perf_counter()
    prod = embed(prod_texts)
    seconds = time.perf_counter() - start
    verdict, scores = drift.domain_classifier(
        ref, prod, threshold=cfg.drift_auc, bootstrap_below=cfg.bootstrap_below, seed=cfg.seed
    )
    radius, far = drift.nn_outliers(ref, prod)
    days = [p.day for p in picked]
    return {
        "embedder": MODEL_NAME,
        "sample": {"prompts": prompts.seen, "embedded": len(picked), "training": len(train_texts),
                   "null_se_sample": drift.null_se(len(ref), len(picked)),
                   "null_se_all": drift.null_se(len(ref), prompts.seen)},
        "throughput": {"texts": len(picked), "unique": len(set(prod_texts)), "seconds": round(seconds, 3),
                       "texts_per_s": round(len(picked) / seconds, 1) if seconds else None},
        "training_cache": cache,
        "classifier": verdict,
        "outliers": {"radius": radius, "share": float(far.mean()), "expected": 0.05},
        "by_day": drift.drift_by_day(scores, len(ref), days, far, threshold=cfg.drift_auc),
        "clusters": clusters.grown_clusters(ref, prod, train_texts, prod_texts, k=cfg.clusters,
                                            seed=cfg.seed, examples=cfg.examples_per_cluster,
                                            scrub=scrub),
        "new_inputs": clusters.new_inputs(train_texts, prod, prod_texts, far, k=cfg.clusters,
                                          seed=cfg.seed, examples=cfg.examples_per_cluster, scrub=scrub),
    }  # fmt: skip


def analyze(
    requests: Iterable[Request],
    train: Sequence[Example],
    ctx: ModelContext,
    cfg: MonitorConfig,
    *,
    label_field: str | None,
    schema: dict[str, Any] | str | None,
    scrub: Callable[[str], str],
    since: datetime,
    until: datetime,
    now: datetime | None = None,
    reference: list[Scorer] | None = None,
) -> dict[str, Any]:
    """The whole report (without triggers) from one pass over `requests` (any iterable, read
    once): traffic, input and output drift, quality, and staleness as of `now` (default: the
    current time, whatever the window). `reference`: scorers applied to reviewed rows against
    their reviewed answer. DataError when the window holds no request."""
    for module in ("sklearn", "scipy"):
        require(module, "monitor", "tunewise monitor")
    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = fn()
        timings[name] = round(time.perf_counter() - start, 3)
        return value

    train_answers = [a for _, a in train]
    scorers = quality.live_scorers(train_answers, schema)
    seen = WindowPass(train_answers, label_field, scorers, ctx.model,
                      capacity=cfg.embed_sample, seed=cfg.seed, reference=reference)  # fmt: skip
    timed("read_and_score", lambda: seen.consume(requests))
    if not seen.n:
        raise DataError(f"no logged requests for feature '{ctx.feature}' between {since:%Y-%m-%d %H:%M} "
                        f"and {until:%Y-%m-%d %H:%M} UTC; widen --since or check the feature name")  # fmt: skip
    live = seen.quality.summary()
    margin = cfg.triggers.quality_margin if cfg.triggers.quality_margin is not None else 0.0
    return {
        "format": "tunewise.monitor/1",
        "tunewise_version": __version__,
        "feature": ctx.feature,
        "model": ctx.model,
        "window": {"since": since.isoformat(), "until": until.isoformat()},
        "training": {"path": str(ctx.train_path) if ctx.train_path else None,
                     "dataset_sha256": ctx.dataset_sha256, "rows": len(train)},
        "traffic": seen.traffic(),
        "input_drift": timed("input_drift", lambda: input_drift(seen.prompts, train, ctx, cfg, scrub)),
        "output_drift": timed("output_drift", lambda: {
            "labels": outputs.label_drift_counts(train_answers, seen.answers),
            "lengths": outputs.length_drift_counts(Counter(len(a) for a in train_answers),
                                                   seen.answers.lengths)}),
        "quality": {**live, "eval_source": ctx.eval_source, "eval_metrics": ctx.eval_metrics,
                    "vs_eval": quality.compare_with_eval(live["model_rows"], ctx.eval_metrics, margin)},
        "staleness": staleness(ctx, now or datetime.now(UTC)),
        "timings_s": timings,
    }  # fmt: skip
