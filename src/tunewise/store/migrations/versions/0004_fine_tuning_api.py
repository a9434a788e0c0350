"""The fine-tuning API: uploaded files, the API side of jobs, workers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("examples", sa.Integer(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("organization", sa.String(128), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_files_purpose", "files", ["purpose"])
    op.create_table(
        "fine_tuning_api_jobs",
        sa.Column("job_id", sa.String(64), sa.ForeignKey("fine_tuning_jobs.id"), primary_key=True),
        sa.Column("organization", sa.String(128), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("training_file", sa.String(64), nullable=False),
        sa.Column("validation_file", sa.String(64), nullable=True),
        sa.Column("suffix", sa.String(64), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("fine_tuned_model", sa.Text(), nullable=False),
        sa.Column("workdir", sa.Text(), nullable=False),
        sa.Column("dataset_sha256", sa.String(64), nullable=True),
        sa.Column("result_file", sa.String(64), nullable=True),
        sa.Column("worker_id", sa.String(128), nullable=True),
        sa.Column("claimed_at", sa.BigInteger(), nullable=True),
        sa.Column("interrupt", sa.String(16), nullable=True),
    )
    op.create_index("ix_fine_tuning_api_jobs_worker_id", "fine_tuning_api_jobs", ["worker_id"])
    op.create_table(
        "fine_tuning_workers",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
        sa.Column("stopped_at", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("fine_tuning_workers")
    op.drop_index("ix_fine_tuning_api_jobs_worker_id", table_name="fine_tuning_api_jobs")
    op.drop_table("fine_tuning_api_jobs")
    op.drop_index("ix_files_purpose", table_name="files")
    op.drop_table("files")
