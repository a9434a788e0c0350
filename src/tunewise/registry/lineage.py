"""Finding models and assembling their lineage: dataset -> job -> model -> evals -> gates -> aliases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tunewise.errors import RegistryError
from tunewise.registry.integrity import verify_dataset, verify_folder
from tunewise.registry.tables import (
    Alias,
    AliasEvent,
    Dataset,
    EvalReport,
    GateDecision,
    Job,
    Model,
    RegistryEvent,
    as_utc,
    utcnow,
)


def find_model(s: Session, ref: str, *, missing_ok: bool = False) -> Model:
    """A model by name, provider model id, folder path, or `feature@alias` (its current holder)."""
    found = s.scalar(select(Model).where(or_(Model.name == ref, Model.provider_model_id == ref)))
    if found is None and Path(ref).expanduser().exists():
        found = s.scalar(
            select(Model).where(Model.adapter_path == str(Path(ref).expanduser().resolve()))
        )
    if found is None and "@" in ref and not ref.startswith("ft:"):
        feature, _, alias = ref.rpartition("@")
        row = s.get(Alias, (feature, alias))
        found = s.get(Model, row.model_id) if row is not None and row.model_id is not None else None
        if found is None and not missing_ok:
            raise RegistryError(f"no model holds '{ref}'; run tunewise registry list")
    if found is None and not missing_ok:
        raise RegistryError(f"no model registered as '{ref}'; run tunewise registry list")
    return found  # type: ignore[return-value]


def describe_side(side: str | dict[str, Any]) -> str:
    """A short name for a report side (its label, else its model)."""
    if isinstance(side, str):
        return side
    ident, variant = side.get("identity") or {}, side.get("variant") or {}
    return str(
        side.get("label")
        or variant.get("name")
        or ident.get("model")
        or variant.get("model")
        or "?"
    )


def resolve_side(
    s: Session, side: str | dict[str, Any], *, missing_ok: bool = False
) -> Model | None:
    """The registered model a gate/eval report side refers to (see ingest.py for the fields)."""
    if isinstance(side, str):
        return find_model(s, side, missing_ok=missing_ok)
    ident, variant = side.get("identity") or {}, side.get("variant") or {}
    found: Model | None = None
    if ident.get("classifier_sha256"):  # an embedding classifier folder, by content
        query = select(Model).where(Model.adapter_sha256 == ident["classifier_sha256"])
        found = s.scalars(query.order_by(Model.deprecated_at.is_not(None), Model.id.desc())).first()
    if found is None and ident.get("adapter_hash"):
        query = select(Model).where(Model.weights_sha256 == ident["adapter_hash"])
        found = s.scalars(query.order_by(Model.deprecated_at.is_not(None), Model.id.desc())).first()
    model = ident.get("model") or variant.get("model")
    if found is None and model and not variant.get("adapter") and ident.get("kind") != "classifier":
        found = s.scalar(select(Model).where(Model.provider_model_id == str(model)))
    adapter = variant.get("adapter")
    if found is None and adapter and Path(str(adapter)).expanduser().exists():
        found = s.scalar(
            select(Model).where(
                Model.adapter_path == str(Path(str(adapter)).expanduser().resolve())
            )
        )
    label = side.get("label") or variant.get("name")
    if found is None and label:
        found = s.scalar(select(Model).where(Model.name == str(label)))
    if found is None and not missing_ok:
        raise RegistryError(
            f"the report's model '{describe_side(side)}' is not registered; register it with "
            "tunewise registry register-model FOLDER, or name it with --candidate/--baseline"
        )
    return found


def verify_model(s: Session, m: Model) -> None:
    """Recompute the model's folder hash and its dataset's hashes; RegistryError on mismatch."""
    if m.adapter_path and m.adapter_sha256:
        verify_folder(m.name, m.adapter_path, m.adapter_sha256)
    if m.dataset_id is not None:
        ds = s.get(Dataset, m.dataset_id)
        assert ds is not None
        verify_dataset(ds.location, ds.manifest_sha256, json.loads(ds.files_json))


def _time(value: Any) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def dataset_dict(d: Dataset) -> dict[str, Any]:
    return {
        "manifest_sha256": d.manifest_sha256,
        "semver": d.semver,
        "location": d.location,
        "registered_at": _time(d.created_at),
        "registered_by": d.registered_by,
    }


def job_dict(j: Job) -> dict[str, Any]:
    return {
        "backend": j.backend,
        "local_job_id": j.local_job_id,
        "provider_job_id": j.provider_job_id,
        "status": j.status,
        "registered_at": _time(j.created_at),
    }


def model_dict(s: Session, m: Model) -> dict[str, Any]:
    held = s.scalars(
        select(Alias).where(Alias.model_id == m.id).order_by(Alias.feature, Alias.alias)
    ).all()
    return {
        "model": m.name,
        "kind": m.kind,
        "base": {"id": m.base_id, "hash": m.base_hash, "path": m.base_path},
        "adapter_path": m.adapter_path,
        "adapter_sha256": m.adapter_sha256,
        "provider_model_id": m.provider_model_id,
        "dataset_sha256": m.dataset_sha256,
        "registered_at": _time(m.created_at),
        "registered_by": m.registered_by,
        "deprecated": m.deprecated_at is not None,
        "deprecated_at": _time(m.deprecated_at),
        "deprecated_by": m.deprecated_by,
        "deprecated_reason": m.deprecated_reason,
        "aliases": [f"{a.feature}@{a.alias}" for a in held],
    }


def gate_dict(s: Session, g: GateDecision) -> dict[str, Any]:
    cand = s.get(Model, g.candidate_id)
    return {
        "id": g.id,
        "decision": "pass" if g.passed else "block",
        "candidate": cand.name if cand else None,
        "reference": g.reference,
        "reference_is_base": g.reference_model_id is None,
        "golden_sha256": g.golden_sha256,
        "feature": g.feature,
        "rules": json.loads(g.rules_json),
        "report_path": g.report_path,
        "report_sha256": g.report_sha256,
        "recorded_at": _time(g.created_at),
        "recorded_by": g.recorded_by,
    }


def eval_dict(e: EvalReport) -> dict[str, Any]:
    return {
        "id": e.id,
        "variant": e.variant,
        "golden_sha256": e.golden_sha256,
        "metrics": json.loads(e.metrics_json),
        "report_path": e.report_path,
        "report_sha256": e.report_sha256,
        "recorded_at": _time(e.created_at),
        "recorded_by": e.recorded_by,
    }


def _name(s: Session, model_id: int | None) -> str | None:
    m = s.get(Model, model_id) if model_id is not None else None
    return m.name if m else None


def event_dict(s: Session, e: AliasEvent) -> dict[str, Any]:
    """One alias change (promote, rollback, ...) with model names, JSON-ready."""
    return {
        "id": e.id,
        "feature": e.feature,
        "alias": e.alias,
        "action": e.action,
        "model": _name(s, e.model_id),
        "previous": _name(s, e.previous_model_id),
        "gate_id": e.gate_id,
        "forced": e.forced,
        "reason": e.reason,
        "by": e.by,
        "at": as_utc(e.created_at).isoformat(),
    }


def event_record_dict(s: Session, e: RegistryEvent) -> dict[str, Any]:
    """One registry event (a monitor trigger, ...), JSON-ready."""
    return {
        "id": e.id,
        "kind": e.kind,
        "feature": e.feature,
        "model": _name(s, e.model_id),
        "detail": json.loads(e.detail_json),
        "recorded_at": _time(e.created_at),
        "recorded_by": e.recorded_by,
    }


def lineage(s: Session, m: Model) -> dict[str, Any]:
    """The whole chain for one model, JSON-ready: `events` are its registry events (rollout
    steps and decisions, monitor triggers), oldest first."""
    ds = s.get(Dataset, m.dataset_id) if m.dataset_id is not None else None
    job = s.get(Job, m.job_id) if m.job_id is not None else None
    evals = s.scalars(
        select(EvalReport).where(EvalReport.model_id == m.id).order_by(EvalReport.id)
    ).all()
    gates = s.scalars(
        select(GateDecision).where(GateDecision.candidate_id == m.id).order_by(GateDecision.id)
    ).all()
    events = s.scalars(
        select(AliasEvent)
        .where(or_(AliasEvent.model_id == m.id, AliasEvent.previous_model_id == m.id))
        .order_by(AliasEvent.id)
    ).all()
    recorded = s.scalars(
        select(RegistryEvent).where(RegistryEvent.model_id == m.id).order_by(RegistryEvent.id)
    ).all()
    dataset: dict[str, Any] | None = dataset_dict(ds) if ds else None
    if dataset is None and m.dataset_sha256:
        dataset = {"manifest_sha256": m.dataset_sha256, "registered": False}
    return {
        "dataset": dataset,
        "job": job_dict(job) if job else None,
        "model": model_dict(s, m),
        "evals": [eval_dict(e) for e in evals],
        "gates": [gate_dict(s, g) for g in gates],
        "events": [event_record_dict(s, e) for e in recorded],
        "alias_events": [event_dict(s, e) for e in events],
    }


def stale_models(s: Session, days: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """Live models older than `days` with no eval or gate recorded in the last `days`."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    last_eval = (
        select(EvalReport.model_id, func.max(EvalReport.created_at).label("at"))
        .group_by(EvalReport.model_id)
        .subquery()
    )
    last_gate = (
        select(GateDecision.candidate_id, func.max(GateDecision.created_at).label("at"))
        .group_by(GateDecision.candidate_id)
        .subquery()
    )
    rows = s.execute(
        select(Model, last_eval.c.at, last_gate.c.at)
        .outerjoin(last_eval, last_eval.c.model_id == Model.id)
        .outerjoin(last_gate, last_gate.c.candidate_id == Model.id)
        .where(Model.deprecated_at.is_(None))
        .order_by(Model.id)
    ).all()
    out = []
    for m, eval_at, gate_at in rows:
        evaluated = [as_utc(t) for t in (eval_at, gate_at) if t is not None]
        latest = max([as_utc(m.created_at), *evaluated])
        if latest < cutoff:
            out.append(
                {
                    "model": m.name,
                    "created_at": as_utc(m.created_at).isoformat(),
                    "last_evaluated": max(evaluated).isoformat() if evaluated else None,
                    "days": (now - latest).days,
                }
            )
    return out
