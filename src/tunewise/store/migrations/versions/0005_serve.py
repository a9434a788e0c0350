"""The gateway's tables: feature flags and their history, API keys, the request log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "serve_flags",
        sa.Column("feature", sa.String(128), primary_key=True),
        sa.Column("canary_bp", sa.Integer(), nullable=False),
        sa.Column("killed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "serve_flag_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("feature", sa.String(128), nullable=False),
        sa.Column("canary_bp", sa.Integer(), nullable=False),
        sa.Column("killed", sa.Boolean(), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_serve_flag_events_feature_id", "serve_flag_events", ["feature", "id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "request_log",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("server", sa.String(128), nullable=False),
        sa.Column("requested", sa.String(256), nullable=True),
        sa.Column("feature", sa.String(128), nullable=True),
        sa.Column("arm", sa.String(16), nullable=True),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("upstream", sa.String(64), nullable=True),
        sa.Column("user_hash", sa.String(32), nullable=True),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("canary_error", sa.String(64), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_request_log_feature_at", "request_log", ["feature", "at"])
    op.create_index("ix_request_log_at", "request_log", ["at"])
    op.create_index("ix_request_log_request_id", "request_log", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_request_log_request_id", table_name="request_log")
    op.drop_index("ix_request_log_at", table_name="request_log")
    op.drop_index("ix_request_log_feature_at", table_name="request_log")
    op.drop_table("request_log")
    op.drop_table("api_keys")
    op.drop_index("ix_serve_flag_events_feature_id", table_name="serve_flag_events")
    op.drop_table("serve_flag_events")
    op.drop_table("serve_flags")
