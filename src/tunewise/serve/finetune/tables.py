"""The fine-tuning API's tables in the one database: uploaded files, the API side of each job,
and the workers that train.

A job is one `fine_tuning_jobs` row (the job store's, shared with `tunewise train`) plus one
`fine_tuning_api_jobs` row with what only the API knows: the request as sent, its files, the
queue claim (`worker_id`) and an interrupt asked of the training process (pause, requeue).
Times are Unix seconds, as in OpenAI's objects.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tunewise.store.base import Base

_JSON = JSON(none_as_null=True)


class FileRow(Base):
    """An uploaded file; `filename` is the client's label, `path` where it is stored (by id)."""

    __tablename__ = "files"
    __table_args__ = ({"sqlite_autoincrement": True},)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    examples: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    organization: Mapped[str] = mapped_column(String(128))


class ApiJobRow(Base):
    """What the fine-tuning API knows of a job besides the job store's row."""

    __tablename__ = "fine_tuning_api_jobs"
    job_id: Mapped[str] = mapped_column(ForeignKey("fine_tuning_jobs.id"), primary_key=True)
    organization: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(Text)
    """The model name the request asked for (the job store's `base` is the local base)."""
    training_file: Mapped[str] = mapped_column(String(64))
    validation_file: Mapped[str | None] = mapped_column(String(64))
    suffix: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[dict[str, Any]] = mapped_column(_JSON)
    """OpenAI's method object, hyperparameters resolved once the files are validated."""
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", _JSON)
    fine_tuned_model: Mapped[str] = mapped_column(Text)
    """The `ft:` name the model gets (set at creation, served once the job succeeds)."""
    workdir: Mapped[str] = mapped_column(Text)
    dataset_sha256: Mapped[str | None] = mapped_column(String(64))
    result_file: Mapped[str | None] = mapped_column(String(64))
    worker_id: Mapped[str | None] = mapped_column(String(128), index=True)
    """The worker holding the job (validating or training); NULL while it waits."""
    claimed_at: Mapped[int | None] = mapped_column(BigInteger)
    interrupt: Mapped[str | None] = mapped_column(String(16))
    """Asked of the training process at its next step: `pause`, or `requeue` (worker stopping)."""


class WorkerRow(Base):
    """A `tunewise worker` process; `heartbeat_at` older than the lease means it is gone."""

    __tablename__ = "fine_tuning_workers"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    concurrency: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[int] = mapped_column(BigInteger)
    heartbeat_at: Mapped[int] = mapped_column(BigInteger)
    stopped_at: Mapped[int | None] = mapped_column(BigInteger)
