"""The rollout controller's tables: rollouts, steps, decisions, leases, shadow pairs, feedback.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("feature", sa.String(128), nullable=False),
        sa.Column("active_feature", sa.String(128), nullable=True, unique=True),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("control_model", sa.String(256), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("paused_from", sa.String(16), nullable=True),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("step_started_at", _TIME, nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("shadow_percent", sa.Float(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("checklist", sa.JSON(), nullable=True),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_rollouts_feature", "rollouts", ["feature"])
    op.create_table(
        "rollout_steps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rollout_id", sa.Integer(), sa.ForeignKey("rollouts.id"), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.Column("result", sa.String(16), nullable=True),
    )
    op.create_index("ix_rollout_steps_rollout", "rollout_steps", ["rollout_id", "id"])
    op.create_table(
        "rollout_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rollout_id", sa.Integer(), sa.ForeignKey("rollouts.id"), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=True),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("registry_event_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_rollout_decisions_rollout", "rollout_decisions", ["rollout_id", "id"])
    op.create_table(
        "rollout_leases",
        sa.Column("feature", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("acquired_at", _TIME, nullable=False),
    )
    op.create_table(
        "rollout_shadow",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("agree", sa.Boolean(), nullable=True),
        sa.Column("control_latency_ms", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("control_scores", sa.JSON(), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=True),
    )
    op.create_index("ix_rollout_shadow_rollout_at", "rollout_shadow", ["rollout_id", "at"])
    op.create_table(
        "feedback",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("request_at", _TIME, nullable=False),
        sa.Column("feature", sa.String(128), nullable=True),
        sa.Column("arm", sa.String(16), nullable=True),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("rating", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(64), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("by", sa.String(128), nullable=False),
    )
    op.create_index("ix_feedback_feature_request_at", "feedback", ["feature", "request_at"])
    op.create_index("ix_feedback_request_id", "feedback", ["request_id"])


def downgrade() -> None:
    for index, table in (
        ("ix_feedback_request_id", "feedback"),
        ("ix_feedback_feature_request_at", "feedback"),
        ("ix_rollout_shadow_rollout_at", "rollout_shadow"),
        ("ix_rollout_decisions_rollout", "rollout_decisions"),
        ("ix_rollout_steps_rollout", "rollout_steps"),
        ("ix_rollouts_feature", "rollouts"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "feedback",
        "rollout_shadow",
        "rollout_leases",
        "rollout_decisions",
        "rollout_steps",
        "rollouts",
    ):
        op.drop_table(table)
