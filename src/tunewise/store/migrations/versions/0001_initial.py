"""Initial registry schema: datasets, jobs, models, evals, gates, aliases and their history.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("manifest_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("semver", sa.String(64), nullable=True),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("files_json", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.Column("registered_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("local_job_id", sa.String(128), nullable=True),
        sa.Column("provider_job_id", sa.String(256), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("dataset_id", sa.Integer(), sa.ForeignKey("datasets.id"), nullable=True),
        sa.Column("config_json", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.Column("registered_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("base_id", sa.String(256), nullable=False),
        sa.Column("base_hash", sa.String(64), nullable=True),
        sa.Column("base_path", sa.Text(), nullable=True),
        sa.Column("adapter_path", sa.Text(), nullable=True),
        sa.Column("adapter_sha256", sa.String(64), nullable=True),
        sa.Column("weights_sha256", sa.String(64), nullable=True),
        sa.Column("provider_model_id", sa.String(256), nullable=True, unique=True),
        sa.Column("dataset_sha256", sa.String(64), nullable=True),
        sa.Column("dataset_id", sa.Integer(), sa.ForeignKey("datasets.id"), nullable=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id"), nullable=True),
        sa.Column("manifest_json", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.Column("registered_by", sa.String(128), nullable=False),
        _ts("deprecated_at", nullable=True),
        sa.Column("deprecated_by", sa.String(128), nullable=True),
        sa.Column("deprecated_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_models_weights_sha256", "models", ["weights_sha256"])
    op.create_table(
        "evals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("models.id"), nullable=False),
        sa.Column("golden_sha256", sa.String(64), nullable=False),
        sa.Column("variant", sa.String(128), nullable=False),
        sa.Column("metrics_json", sa.Text(), nullable=False),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("report_sha256", sa.String(64), nullable=True),
        _ts("created_at"),
        sa.Column("recorded_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_evals_model_id", "evals", ["model_id"])
    op.create_table(
        "gates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("candidate_id", sa.Integer(), sa.ForeignKey("models.id"), nullable=False),
        sa.Column("reference", sa.String(256), nullable=False),
        sa.Column("reference_model_id", sa.Integer(), sa.ForeignKey("models.id"), nullable=True),
        sa.Column("golden_sha256", sa.String(64), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("rules_json", sa.Text(), nullable=False),
        sa.Column("feature", sa.String(128), nullable=True),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("report_sha256", sa.String(64), nullable=True),
        _ts("created_at"),
        sa.Column("recorded_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_gates_candidate_id", "gates", ["candidate_id"])
    op.create_index("ix_gates_feature", "gates", ["feature"])
    op.create_table(
        "aliases",
        sa.Column("feature", sa.String(128), primary_key=True),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("models.id"), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        _ts("updated_at"),
    )
    op.create_table(
        "alias_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("feature", sa.String(128), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("models.id"), nullable=False),
        sa.Column("previous_model_id", sa.Integer(), sa.ForeignKey("models.id"), nullable=True),
        sa.Column("parent_event_id", sa.Integer(), nullable=True),
        sa.Column("gate_id", sa.Integer(), sa.ForeignKey("gates.id"), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("by", sa.String(128), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_alias_events_feature_alias", "alias_events", ["feature", "alias", "id"])


def downgrade() -> None:
    for index, table in (
        ("ix_alias_events_feature_alias", "alias_events"),
        ("ix_gates_feature", "gates"),
        ("ix_gates_candidate_id", "gates"),
        ("ix_evals_model_id", "evals"),
        ("ix_models_weights_sha256", "models"),
    ):
        op.drop_index(index, table_name=table)
    for table in ("alias_events", "aliases", "gates", "evals", "models", "jobs", "datasets"):
        op.drop_table(table)
