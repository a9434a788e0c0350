"""The job store's tables in the one database: fine-tuning jobs, their events and checkpoints.

Times are Unix seconds, as in OpenAI's job objects. `seq` orders jobs (newest first) and gives
event ids (`ftevent-<seq>`); job and checkpoint ids are random strings.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tunewise.store.base import Base

_JSON = JSON(none_as_null=True)


class JobRow(Base):
    """One fine-tuning job; `pid` + `host` name the process running it."""

    __tablename__ = "fine_tuning_jobs"
    __table_args__ = ({"sqlite_autoincrement": True},)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32), index=True)
    backend: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(32))
    base: Mapped[str] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text)
    out: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(_JSON)
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(255))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[dict[str, Any] | None] = mapped_column(_JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(_JSON)
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger)


class EventRow(Base):
    """One job event (fine_tuning.job.event); `type` is message or metrics."""

    __tablename__ = "fine_tuning_job_events"
    __table_args__ = (
        Index("ix_fine_tuning_job_events_job_seq", "job_id", "seq"),
        {"sqlite_autoincrement": True},
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("fine_tuning_jobs.id"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    level: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(_JSON)


class CheckpointRow(Base):
    """One saved training state (fine_tuning.job.checkpoint)."""

    __tablename__ = "fine_tuning_job_checkpoints"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("fine_tuning_jobs.id"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(_JSON)
