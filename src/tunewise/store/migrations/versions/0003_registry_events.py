"""Registry events: monitor triggers (and later retrains) recorded per feature and model.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("feature", sa.String(128), nullable=True),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("models.id"), nullable=True),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_registry_events_feature_kind", "registry_events", ["feature", "kind", "id"])


def downgrade() -> None:
    op.drop_index("ix_registry_events_feature_kind", table_name="registry_events")
    op.drop_table("registry_events")
