"""`Registry`: the Python API of the model registry.

    reg = Registry()                            # the one database (tunewise.store), by default
                                                # .tunewise/tunewise.db
    reg.register_dataset("data/v1")             # a folder made by `tunewise data prepare`
    reg.register_model("runs/a1/adapter")       # its manifest names base, dataset and job
    reg.record_gate("runs/a1/eval/report.json", feature="support")
    reg.promote("adapter", feature="support", alias="production", reason="beats base", by="ana")
    reg.rollback("support", "production")

Every method is one transaction; alias changes lock the alias row first (see aliases.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tunewise.artifacts import canonical_json
from tunewise.errors import RegistryError
from tunewise.registry import aliases, catalog, lineage, mlflow_sync
from tunewise.registry.catalog import current_user
from tunewise.registry.ingest import read_eval, read_gate
from tunewise.registry.tables import (
    Alias,
    Dataset,
    EvalReport,
    GateDecision,
    Job,
    Model,
    RegistryEvent,
    utcnow,
)
from tunewise.store import get_engine, resolve_url, transaction


class Registry:
    """The model registry in the one tunewise database (SQLite file or PostgreSQL URL)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        config_url: str | None = None,
        golden: str | Path | None = None,
    ) -> None:
        """Open (and migrate) the database; `golden` pins the current golden set file."""
        self.url = resolve_url(url, config_url)
        self.engine = get_engine(self.url)
        self.golden = Path(golden) if golden else None

    def close(self) -> None:
        """Return pooled connections (the process-wide engine stays usable)."""
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on error."""
        with transaction(self.engine) as session:
            yield session

    # ---- what the pipeline produced ------------------------------------------------------------

    def register_dataset(self, path: str | Path, *, by: str | None = None) -> Dataset:
        """Register a dataset version folder (or its manifest.json); idempotent by manifest hash."""
        with self.session() as s:
            return catalog.dataset_from_folder(s, path, by)

    def register_job(
        self,
        backend: str,
        *,
        local_job_id: str | None = None,
        provider_job_id: str | None = None,
        dataset: str | None = None,
        status: str | None = None,
        config: dict[str, Any] | None = None,
        by: str | None = None,
    ) -> Job:
        """Register a training job on any backend; idempotent on (backend, job id)."""
        with self.session() as s:
            return catalog.upsert_job(
                s,
                backend,
                local_job_id=local_job_id,
                provider_job_id=provider_job_id,
                dataset=dataset,
                status=status,
                config=config,
                by=by,
            )

    def register_model(
        self,
        adapter: str | Path | None = None,
        *,
        provider_model_id: str | None = None,
        name: str | None = None,
        base: str | None = None,
        base_hash: str | None = None,
        dataset: str | None = None,
        job: str | None = None,
        backend: str | None = None,
        by: str | None = None,
    ) -> Model:
        """Register an adapter/full-model folder (its manifest.json gives base, dataset and job)
        or a provider model id (`ft:...`, with `base`). Idempotent for identical content."""
        if (adapter is None) == (provider_model_id is None):
            raise RegistryError(
                "register either an adapter folder or a provider model id (not both)"
            )
        with self.session() as s:
            if adapter is not None:
                return catalog.adapter_model(s, Path(adapter), name, dataset, by)
            assert provider_model_id is not None
            return catalog.provider_model(
                s,
                provider_model_id,
                name=name,
                base=base,
                base_hash=base_hash,
                dataset=dataset,
                job=job,
                backend=backend,
                by=by,
            )

    def register_run(
        self,
        adapter: str | Path,
        *,
        report: dict[str, Any] | str | Path | None = None,
        feature: str | None = None,
        name: str | None = None,
        by: str | None = None,
    ) -> Model:
        """What `tunewise run` records: the model (with the dataset and job its manifest names)
        and, when given, the gate decision in `report` (its candidate is this model)."""
        model = self.register_model(adapter, name=name, by=by)
        if report is not None:
            self.record_gate(report, candidate=model.name, feature=feature, by=by)
        return model

    # ---- evals and gates -----------------------------------------------------------------------

    def record_eval(
        self,
        model: str,
        report: dict[str, Any] | str | Path | None = None,
        *,
        golden_sha256: str | None = None,
        variant: str | None = None,
        metrics: dict[str, Any] | None = None,
        side: str = "candidate",
        by: str | None = None,
    ) -> EvalReport:
        """Record a model's eval on a golden set: from a report (its `side` summary: `candidate`
        or `base`) and/or explicit values."""
        rec = read_eval(
            report, golden_sha256=golden_sha256, variant=variant, metrics=metrics, side=side
        )
        with self.session() as s:
            row = EvalReport(
                model_id=lineage.find_model(s, model).id,
                golden_sha256=rec.golden_sha256,
                variant=rec.variant,
                metrics_json=canonical_json(rec.metrics),
                report_path=rec.report_path,
                report_sha256=rec.report_sha256,
                recorded_by=current_user(by),
            )
            s.add(row)
            s.flush()
            return row

    def record_gate(
        self,
        result: dict[str, Any] | str | Path,
        *,
        candidate: str | None = None,
        baseline: str | None = None,
        feature: str | None = None,
        by: str | None = None,
    ) -> GateDecision:
        """Record a gate decision (fields read: see ingest.py). The candidate must be registered;
        the baseline is a registered model or the candidate's base model."""
        rec = read_gate(result, candidate=candidate, baseline=baseline, feature=feature)
        with self.session() as s:
            cand = lineage.resolve_side(s, rec.candidate)
            assert cand is not None
            ref = lineage.resolve_side(s, rec.baseline, missing_ok=True)
            if ref is None and not aliases.is_base_reference(cand, rec.baseline):
                raise RegistryError(
                    f"gate baseline '{lineage.describe_side(rec.baseline)}' is neither a registered "
                    f"model nor the base of '{cand.name}' ({cand.base_id}); register it first"
                )
            row = GateDecision(
                candidate_id=cand.id,
                reference=ref.name if ref else lineage.describe_side(rec.baseline),
                reference_model_id=ref.id if ref else None,
                golden_sha256=rec.golden_sha256,
                passed=rec.passed,
                rules_json=canonical_json(rec.rules),
                feature=rec.feature,
                report_path=rec.report_path,
                report_sha256=rec.report_sha256,
                recorded_by=current_user(by),
            )
            s.add(row)
            # A full report also carries each side's metrics: record them as evals.
            for key, model in (("candidate", cand), ("base", ref)):
                summary = rec.sides.get(key)
                if summary is not None and model is not None:
                    s.add(
                        EvalReport(
                            model_id=model.id,
                            golden_sha256=rec.golden_sha256,
                            variant=lineage.describe_side(summary),
                            metrics_json=canonical_json(summary["metrics"]),
                            report_path=rec.report_path,
                            report_sha256=rec.report_sha256,
                            recorded_by=current_user(by),
                        )
                    )
            s.flush()
            return row

    # ---- aliases -------------------------------------------------------------------------------

    def _golden_hash(self) -> str | None:
        if self.golden is None:
            return None
        if not self.golden.is_file():
            raise RegistryError(f"{self.golden}: configured golden set not found (registry.golden)")
        from tunewise.evaluate.golden import load_golden

        # The same content hash the eval reports carry as golden_sha256 (not the file's bytes).
        return load_golden(self.golden).hash

    def current_golden(self, feature: str, candidate: str | None = None) -> tuple[str | None, str]:
        """The current golden set hash for `feature` and where it comes from (see aliases.py)."""
        configured = self._golden_hash()
        with self.session() as s:
            cand = lineage.find_model(s, candidate) if candidate else None
            return aliases.current_golden(s, feature, cand, configured)

    def promote(
        self,
        model: str,
        feature: str,
        alias: str = "production",
        reason: str | None = None,
        by: str | None = None,
        force: bool = False,
        gate_alias: str | None = None,
    ) -> dict[str, Any]:
        """Point `feature@alias` at `model` if a passing gate allows it (or `force` with a
        reason); the gate is against the alias's holder, or `feature@gate_alias`'s when given."""
        golden = self._golden_hash()
        with self.session() as s:
            event = aliases.promote(
                s, model, feature, alias, reason, current_user(by), force, golden, gate_alias
            )
            out = lineage.event_dict(s, event)
        mlflow_sync.sync_alias(self, out)
        return out

    def rollback(
        self,
        feature: str,
        alias: str = "production",
        reason: str | None = None,
        by: str | None = None,
    ) -> dict[str, Any]:
        """Give `feature@alias` back to the holder before the current one, in one step."""
        with self.session() as s:
            event = aliases.rollback(s, feature, alias, reason, current_user(by))
            out = lineage.event_dict(s, event)
        mlflow_sync.sync_alias(self, out)
        return out

    def history(self, feature: str, alias: str = "production") -> list[dict[str, Any]]:
        """Every change of `feature@alias`, oldest first."""
        with self.session() as s:
            return aliases.history(s, feature, alias)

    def holder(self, feature: str, alias: str = "production") -> str | None:
        """Name of the model `feature@alias` points at (None when unset)."""
        with self.session() as s:
            row = s.get(Alias, (feature, alias))
            m = s.get(Model, row.model_id) if row and row.model_id else None
            return m.name if m else None

    def deprecate(self, model: str, reason: str | None = None, by: str | None = None) -> Model:
        """Mark a model deprecated (never promoted again); refused while an alias holds it."""
        with self.session() as s:
            m = lineage.find_model(s, model)
            s.refresh(m, with_for_update=True)  # serializes with promotions of this model
            held = s.scalars(select(Alias).where(Alias.model_id == m.id)).all()
            if held:
                names = ", ".join(f"{a.feature}@{a.alias}" for a in held)
                raise RegistryError(
                    f"'{m.name}' still serves {names}; promote a replacement or roll back first"
                )
            if m.deprecated_at is None:
                m.deprecated_at, m.deprecated_by, m.deprecated_reason = (
                    utcnow(),
                    current_user(by),
                    reason,
                )
            return m

    def routing_table(self) -> dict[str, Any]:
        """feature@alias -> model and serving location, for the gateway (hashes re-checked)."""
        with self.session() as s:
            return aliases.routing_table(s)

    # ---- events --------------------------------------------------------------------------------

    def record_event(
        self,
        kind: str,
        *,
        feature: str | None = None,
        model: str | None = None,
        detail: dict[str, Any] | None = None,
        by: str | None = None,
    ) -> dict[str, Any]:
        """Record an event (e.g. `monitor.trigger`) for a feature and, when registered, a model."""
        with self.session() as s:
            m = lineage.find_model(s, model, missing_ok=True) if model else None
            row = RegistryEvent(
                kind=kind,
                feature=feature,
                model_id=m.id if m is not None else None,
                detail_json=canonical_json(
                    {**(detail or {}), **({"model": model} if model else {})}
                ),
                recorded_by=current_user(by),
            )
            s.add(row)
            s.flush()
            return lineage.event_record_dict(s, row)

    def events(
        self, *, feature: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Recorded events, newest first, optionally of one feature and/or kind."""
        with self.session() as s:
            query = select(RegistryEvent)
            if feature is not None:
                query = query.where(RegistryEvent.feature == feature)
            if kind is not None:
                query = query.where(RegistryEvent.kind == kind)
            rows = s.scalars(query.order_by(RegistryEvent.id.desc()).limit(limit))
            return [lineage.event_record_dict(s, r) for r in rows]

    # ---- reading -------------------------------------------------------------------------------

    def list_models(self, *, stale_days: int = 90) -> list[dict[str, Any]]:
        """Every model with its aliases and stale flag (no artifact hashing: cheap)."""
        with self.session() as s:
            stale = {r["model"] for r in lineage.stale_models(s, stale_days)}
            rows = s.scalars(select(Model).order_by(Model.id)).all()
            return [{**lineage.model_dict(s, m), "stale": m.name in stale} for m in rows]

    def list_datasets(self) -> list[dict[str, Any]]:
        """Every registered dataset version."""
        with self.session() as s:
            return [
                lineage.dataset_dict(d) for d in s.scalars(select(Dataset).order_by(Dataset.id))
            ]

    def lineage(self, model: str, *, verify: bool = True) -> dict[str, Any]:
        """The chain dataset -> job -> model -> evals -> gates -> aliases, JSON-ready; the model's
        folder and dataset are re-hashed first unless `verify=False`."""
        with self.session() as s:
            m = lineage.find_model(s, model)
            if verify:
                lineage.verify_model(s, m)
            return lineage.lineage(s, m)

    show = lineage

    def stale(self, days: int = 90, *, now: datetime | None = None) -> list[dict[str, Any]]:
        """Live models older than `days` with no eval or gate recorded in the last `days`."""
        with self.session() as s:
            return lineage.stale_models(s, days, now)
