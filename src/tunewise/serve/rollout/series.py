"""Per-arm figures over time (for the charts on `/ui` and in `tunewise rollout status --json`):
the rollout's span cut into equal buckets, each with both arms' requests, error rate, p95
latency and mean scores, counted as the controller counts them (look.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from tunewise.serve.rollout.judge import SCORES
from tunewise.serve.rollout.look import ARMS, is_error
from tunewise.serve.tables import RequestLogRow
from tunewise.store.base import as_utc


def _empty(n: int) -> dict[str, Any]:
    return {"requests": [0] * n, "error_rate": [None] * n, "p95_ms": [None] * n,
            "scores": {k: [None] * n for k in SCORES}}  # fmt: skip


def series(
    s: Session, feature: str, since: datetime, until: datetime, buckets: int = 24
) -> dict[str, Any]:
    """Both arms' figures in `buckets` equal slices of [since, until)."""
    span = max((until - since).total_seconds(), 1e-6)
    width = span / buckets
    cols = (RequestLogRow.at, RequestLogRow.arm, RequestLogRow.fallback, RequestLogRow.status,
            RequestLogRow.latency_ms, RequestLogRow.scores)  # fmt: skip
    query = select(*cols).where(RequestLogRow.feature == feature, RequestLogRow.at >= since,
                                RequestLogRow.at < until, RequestLogRow.arm.in_(ARMS))  # fmt: skip
    raw: dict[str, list[dict[str, list[float]]]] = {
        a: [{"errors": [], "latency": [], **{k: [] for k in SCORES}} for _ in range(buckets)]
        for a in ARMS
    }
    for at, arm, fallback, status, latency, scores in s.execute(query):
        failed = is_error(status, fallback)
        if failed is None:
            continue
        i = min(buckets - 1, int((as_utc(at) - since).total_seconds() / width))
        cell = raw["canary" if fallback else arm][i]
        cell["errors"].append(float(failed))
        if not failed:
            cell["latency"].append(latency)
            for k, v in (scores or {}).items():
                if k in SCORES and isinstance(v, int | float):
                    cell[k].append(float(v))
    out: dict[str, Any] = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "bucket_s": round(width, 3),
        "arms": {},
    }
    for arm in ARMS:
        fig = _empty(buckets)
        for i, cell in enumerate(raw[arm]):
            fig["requests"][i] = len(cell["errors"])
            if cell["errors"]:
                fig["error_rate"][i] = round(float(np.mean(cell["errors"])), 6)
            if cell["latency"]:
                fig["p95_ms"][i] = round(float(np.percentile(cell["latency"], 95)), 3)
            for k in SCORES:
                if cell[k]:
                    fig["scores"][k][i] = round(float(np.mean(cell[k])), 6)
        fig["scores"] = {k: v for k, v in fig["scores"].items() if any(x is not None for x in v)}
        out["arms"][arm] = fig
    return out
