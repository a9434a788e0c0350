"""`analyze`: one monitor report from plain inputs (logged requests and the training examples).

Embedding every logged prompt is the one costly step (MiniLM runs at tens to a hundred texts/s on
2 CPU cores), so the drift checks embed a seeded uniform sample of the prompts, sized by the test's
power: the domain classifier's AUC has a null standard error of sqrt((m+n+1)/(12mn)) for m training
and n production rows, and the sample is the smallest n that keeps it within 10% of its value with
all N prompts (at least 1,000, at most `embed_sample`). With m = 276 and N = 10,000 that is
about 1,140 prompts.
The report gives both standard errors. Counts, quality, label mix and lengths use every row.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from tunewise import __version__
from tunewise.artifacts import sha256_file
from tunewise.errors import require
from tunewise.monitor import clusters, drift, outputs, quality
from tunewise.monitor.config import MonitorConfig
from tunewise.monitor.context import ModelContext, staleness
from tunewise.monitor.embed import MODEL_NAME, cached_embed, embed
from tunewise.monitor.requests import Request

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


def traffic(requests: Sequence[Request]) -> dict[str, Any]:
    """Counts: requests per arm and day, sampled texts, reviews, errors."""
    return {
        "requests": len(requests),
        "by_arm": dict(sorted(Counter(r.arm for r in requests).items())),
        "by_day": dict(sorted(Counter(r.day for r in requests).items())),
        "with_prompt": sum(r.prompt is not None for r in requests),
        "with_answer": sum(r.answer is not None for r in requests),
        "reviewed": sum(r.review is not None for r in requests),
        "errors": sum(not r.ok for r in requests),
    }


def input_drift(
    requests: Sequence[Request],
    train: Sequence[Example],
    ctx: ModelContext,
    cfg: MonitorConfig,
    scrub: Callable[[str], str],
) -> dict[str, Any]:
    """Classifier, outliers, drift per day and grown clusters on MiniLM embeddings."""
    prompted = [r for r in requests if r.prompt]
    train_texts = [train[i][0] for i in _sample(len(train), cfg.reference_sample, cfg.seed)]
    size = power_sample_size(
        len(train_texts), len(prompted), cfg.embed_sample, cfg.sample_tolerance
    )
    picked = [prompted[i] for i in _sample(len(prompted), size, cfg.seed)]
    if len(picked) < drift.MIN_ROWS or len(train_texts) < drift.MIN_ROWS:
        return {"skipped": f"needs {drift.MIN_ROWS}+ sampled prompts and training rows "
                f"(have {len(picked)} and {len(train_texts)})"}  # fmt: skip
    # The cache is keyed by the dataset version's manifest hash, else by the train file's bytes.
    key = ctx.dataset_sha256 or (sha256_file(ctx.train_path) if ctx.train_path else None)
    ref, cache = cached_embed(train_texts, key)
    prod_texts = [r.prompt or "" for r in picked]
    start = time.perf_counter()
    prod = embed(prod_texts)
    seconds = time.perf_counter() - start
    verdict, scores = drift.domain_classifier(
        ref, prod, threshold=cfg.drift_auc, bootstrap_below=cfg.bootstrap_below, seed=cfg.seed
    )
    radius, far = drift.nn_outliers(ref, prod)
    days = [r.day for r in picked]
    return {
        "embedder": MODEL_NAME,
        "sample": {"prompts": len(prompted), "embedded": len(picked), "training": len(train_texts),
                   "null_se_sample": drift.null_se(len(ref), len(picked)),
                   "null_se_all": drift.null_se(len(ref), len(prompted))},
        "throughput": {"texts": len(picked), "seconds": round(seconds, 3),
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
    requests: Sequence[Request],
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
) -> dict[str, Any]:
    """The whole report (without triggers): traffic, input and output drift, quality, and
    staleness as of `now` (default: the current time, whatever the window)."""
    for module in ("sklearn", "scipy"):
        require(module, "monitor", "tunewise monitor")
    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = fn()
        timings[name] = round(time.perf_counter() - start, 3)
        return value

    train_answers = [a for _, a in train]
    answers = [r.answer for r in requests if r.ok and r.answer is not None]
    scorers = quality.live_scorers(train_answers, schema)
    live = timed("quality", lambda: quality.live_quality(requests, scorers, ctx.model))
    margin = cfg.triggers.quality_margin if cfg.triggers.quality_margin is not None else 0.0
    return {
        "format": "tunewise.monitor/1",
        "tunewise_version": __version__,
        "feature": ctx.feature,
        "model": ctx.model,
        "window": {"since": since.isoformat(), "until": until.isoformat()},
        "training": {"path": str(ctx.train_path) if ctx.train_path else None,
                     "dataset_sha256": ctx.dataset_sha256, "rows": len(train)},
        "traffic": timed("traffic", lambda: traffic(requests)),
        "input_drift": timed("input_drift", lambda: input_drift(requests, train, ctx, cfg, scrub)),
        "output_drift": timed("output_drift", lambda: {
            "labels": outputs.label_drift(train_answers, answers, label_field),
            "lengths": outputs.length_drift(train_answers, answers)}),
        "quality": {**live, "eval_source": ctx.eval_source, "eval_metrics": ctx.eval_metrics,
                    "vs_eval": quality.compare_with_eval(live["model_rows"], ctx.eval_metrics, margin)},
        "staleness": staleness(ctx, now or datetime.now(UTC)),
        "timings_s": timings,
    }  # fmt: skip
