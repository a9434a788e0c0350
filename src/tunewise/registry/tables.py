"""The registry's tables in the one database (SQLAlchemy 2.0 typed ORM). Changes go through a
new migration in `tunewise/store/migrations/versions/`; `tests/store/test_migrations.py` fails
when the two disagree.

Timestamps are UTC. Hashes are lowercase sha256 hex. JSON payloads are canonical JSON text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tunewise.store.base import Base, as_utc, utcnow

# Base and the time helpers live in the store; re-exported for the registry modules.
__all__ = ["Base", "as_utc", "utcnow"]


class Dataset(Base):
    """A dataset version folder, pinned by sha256(manifest.json)."""

    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    manifest_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    semver: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(Text)
    files_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    registered_by: Mapped[str] = mapped_column(String(128))


class Job(Base):
    """A training job on any backend (local trainer, OpenAI, Bedrock, ...)."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(32))
    local_job_id: Mapped[str | None] = mapped_column(String(128))
    provider_job_id: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str | None] = mapped_column(String(32))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"))
    config_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    registered_by: Mapped[str] = mapped_column(String(128))


class Model(Base):
    """A servable model: an adapter (or full fine-tune) folder on a base, or a provider model id."""

    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # adapter | full | provider | classifier
    base_id: Mapped[str] = mapped_column(String(256))
    base_hash: Mapped[str | None] = mapped_column(String(64))
    base_path: Mapped[str | None] = mapped_column(Text)
    adapter_path: Mapped[str | None] = mapped_column(Text)
    adapter_sha256: Mapped[str | None] = mapped_column(String(64))
    # tunewise.infer.adapter_hash (PEFT config + weights): what eval reports call adapter_hash.
    weights_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    provider_model_id: Mapped[str | None] = mapped_column(String(256), unique=True)
    dataset_sha256: Mapped[str | None] = mapped_column(String(64))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    manifest_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    registered_by: Mapped[str] = mapped_column(String(128))
    deprecated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deprecated_by: Mapped[str | None] = mapped_column(String(128))
    deprecated_reason: Mapped[str | None] = mapped_column(Text)


class EvalReport(Base):
    """Metrics of one model (variant) on one golden set."""

    __tablename__ = "evals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    golden_sha256: Mapped[str] = mapped_column(String(64))
    variant: Mapped[str] = mapped_column(String(128))
    metrics_json: Mapped[str] = mapped_column(Text, default="{}")
    report_path: Mapped[str | None] = mapped_column(Text)
    report_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(128))


class GateDecision(Base):
    """A release gate's verdict on a candidate against a reference (a model or the base)."""

    __tablename__ = "gates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    reference: Mapped[str] = mapped_column(String(256))
    reference_model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    golden_sha256: Mapped[str] = mapped_column(String(64))
    passed: Mapped[bool] = mapped_column(Boolean)
    rules_json: Mapped[str] = mapped_column(Text, default="[]")
    feature: Mapped[str | None] = mapped_column(String(128), index=True)
    report_path: Mapped[str | None] = mapped_column(Text)
    report_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(128))


class Alias(Base):
    """The current holder of `feature@alias`; the row promotions lock."""

    __tablename__ = "aliases"
    feature: Mapped[str] = mapped_column(String(128), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    event_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AliasEvent(Base):
    """One change of an alias. `previous_model_id` is the holder it replaced; `parent_event_id`
    is the event a rollback of this one restores (a stack, so rollbacks go further back)."""

    __tablename__ = "alias_events"
    __table_args__ = (Index("ix_alias_events_feature_alias", "feature", "alias", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feature: Mapped[str] = mapped_column(String(128))
    alias: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # promote | rollback
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    previous_model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    parent_event_id: Mapped[int | None] = mapped_column(Integer)
    gate_id: Mapped[int | None] = mapped_column(ForeignKey("gates.id"))
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RegistryEvent(Base):
    """Something that happened to a feature or model outside promotion: a monitor trigger fired,
    a retrain was started. `kind` is namespaced (`monitor.trigger`); `detail_json` says what."""

    __tablename__ = "registry_events"
    __table_args__ = (Index("ix_registry_events_feature_kind", "feature", "kind", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    feature: Mapped[str | None] = mapped_column(String(128))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    detail_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(128))
