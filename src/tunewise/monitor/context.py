"""What the monitor compares traffic with, found through the registry: the serving model, its
training data (the dataset version's train.jsonl), its eval values and its ages (staleness)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tunewise.errors import DataError, RegistryError
from tunewise.monitor.requests import parse_time


@dataclass
class ModelContext:
    """The monitored model and what it was trained and evaluated on."""

    feature: str
    model: str | None = None
    train_path: Path | None = None
    dataset_sha256: str | None = None
    eval_metrics: dict[str, float] = field(default_factory=dict)
    eval_source: str | None = None
    registered_at: datetime | None = None
    last_evaluated: datetime | None = None
    data_registered_at: datetime | None = None


def _latest_eval(lineage: dict[str, Any]) -> tuple[dict[str, float], str | None, datetime | None]:
    """Metrics of the model's latest recorded eval (report path when known) and the latest time it
    was evaluated or gated."""
    evals = [e for e in lineage.get("evals", []) if e.get("metrics")]
    times = [
        parse_time(x["recorded_at"]) for x in [*lineage.get("evals", []), *lineage.get("gates", [])]
    ]
    last = max(times) if times else None
    if not evals:
        return {}, None, last
    latest = max(evals, key=lambda e: (e["recorded_at"], e["id"]))
    metrics = {k: float(v) for k, v in latest["metrics"].items() if isinstance(v, int | float)}
    return metrics, latest.get("report_path") or f"registry eval #{latest['id']}", last


def from_registry(
    feature: str, alias: str, registry: Any, model: str | None = None
) -> ModelContext:
    """The model holding `feature@alias` (or `model`) and its lineage; RegistryError names what
    is missing and what to run."""
    ref = model or f"{feature}@{alias}"
    lineage = registry.lineage(ref, verify=False)
    m = lineage["model"]
    ds = lineage.get("dataset") or {}
    if not ds.get("location"):
        raise RegistryError(
            f"'{m['model']}' has no registered dataset, so there is no training data to compare "
            "with; register it (tunewise registry register-dataset FOLDER) or pass --train FILE"
        )
    train = Path(ds["location"]) / "train.jsonl"
    if not train.is_file():
        raise DataError(f"{train}: the training file of '{m['model']}' is missing (dataset moved?)")
    metrics, source, last = _latest_eval(lineage)
    return ModelContext(
        feature=feature,
        model=m["model"],
        train_path=train,
        dataset_sha256=ds.get("manifest_sha256"),
        eval_metrics=metrics,
        eval_source=source,
        registered_at=parse_time(m["registered_at"]) if m.get("registered_at") else None,
        last_evaluated=last,
        data_registered_at=parse_time(ds["registered_at"]) if ds.get("registered_at") else None,
    )


def staleness(ctx: ModelContext, now: datetime) -> dict[str, Any]:
    """Model age, days since its last evaluation and age of its training data, in days."""

    def days(t: datetime | None) -> float | None:
        return round((now - t).total_seconds() / 86400, 2) if t else None

    return {
        "model_age_days": days(ctx.registered_at),
        "days_since_eval": days(ctx.last_evaluated),
        "data_age_days": days(ctx.data_registered_at),
        "registered_at": ctx.registered_at.isoformat() if ctx.registered_at else None,
        "last_evaluated": ctx.last_evaluated.isoformat() if ctx.last_evaluated else None,
    }
