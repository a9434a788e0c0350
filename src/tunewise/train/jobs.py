"""The job store: fine-tuning jobs, their events and checkpoints, in the one tunewise database.

Shapes follow OpenAI's fine-tuning API so a hosted backend can fill the same records: statuses
validating_files, queued, running, succeeded, failed, cancelled; events {id, object:
"fine_tuning.job.event", created_at, level, message, type: message|metrics, data}. Every method
is one transaction, so several processes (a trainer, `tunewise jobs cancel`, an API worker) can
share a job; on PostgreSQL they may run on several machines.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from tunewise.errors import JobError
from tunewise.store import display_url, get_engine, resolve_url, transaction
from tunewise.train.tables import CheckpointRow, EventRow, JobRow

# `pausing` and `paused` are the fine-tuning API's (POST .../pause); a resumed job is queued again.
STATUSES = (
    "validating_files",
    "queued",
    "running",
    "pausing",
    "paused",
    "succeeded",
    "failed",
    "cancelled",
)
TERMINAL = ("succeeded", "failed", "cancelled")
# Fields set_status may change besides the status (the rest are fixed at creation).
_SETTABLE = {"pid", "result", "trained_tokens"}
HOST = socket.gethostname()


@dataclass
class Job:
    """One fine-tuning job as stored."""

    id: str
    status: str
    backend: str
    method: str
    base: str
    data: str
    out: str
    config: dict[str, Any]
    created_at: int
    updated_at: int
    pid: int | None = None
    cancel_requested: bool = False
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    trained_tokens: int | None = None
    finished_at: int | None = None
    host: str | None = None

    def to_json(self) -> dict[str, Any]:
        """OpenAI-like job object (plus tunewise fields)."""
        return {"object": "fine_tuning.job", **self.__dict__}


@dataclass
class Checkpoint:
    id: str
    job_id: str
    created_at: int
    step: int
    path: str
    metrics: dict[str, Any] = field(default_factory=dict)


def _now() -> int:
    return int(time.time())


class JobStore:
    """Jobs, events and checkpoints in the database `resolve_url(url, config_url)` names."""

    def __init__(self, url: str | os.PathLike[str] | None = None, *, config_url: str | None = None):
        """`url`: a SQLAlchemy URL or a SQLite file path; default the one database."""
        self.url = resolve_url(os.fspath(url) if url else None, config_url)
        self.engine = get_engine(self.url)

    # jobs ------------------------------------------------------------------------------------
    def create(
        self,
        *,
        method: str,
        base: str,
        data: str,
        out: str,
        config: dict[str, Any],
        backend: str = "local",
    ) -> Job:
        job_id = "ftjob-" + uuid.uuid4().hex[:20]
        now = _now()
        with transaction(self.engine) as s:
            s.add(
                JobRow(
                    id=job_id,
                    created_at=now,
                    updated_at=now,
                    status="validating_files",
                    backend=backend,
                    method=method,
                    base=base,
                    data=data,
                    out=out,
                    config=config,
                    cancel_requested=False,
                )
            )
            s.flush()  # the job row first: events reference it
            _add_event(s, job_id, f"Created fine-tuning job: {job_id}")
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        with transaction(self.engine) as s:
            row = s.scalar(select(JobRow).where(JobRow.id == job_id))
            job = _job(row) if row else None
        if job is None:
            raise JobError(f"no job '{job_id}' in {display_url(self.url)}; run tunewise jobs list")
        return self._reconcile(job)

    def list_jobs(self, limit: int = 20, after: str | None = None) -> list[Job]:
        """Newest first; `after` pages like OpenAI's SDK (jobs created before that job)."""
        query = select(JobRow).order_by(JobRow.seq.desc()).limit(limit)
        if after:
            anchor = select(JobRow.seq).where(JobRow.id == after).scalar_subquery()
            query = query.where(JobRow.seq < anchor)
        with transaction(self.engine) as s:
            jobs = [_job(r) for r in s.scalars(query)]
        return [self._reconcile(j) for j in jobs]

    def _reconcile(self, job: Job) -> Job:
        """A job still marked active whose process is gone (killed, machine rebooted) is failed.

        Only the machine that ran the process can tell it is gone: a job another host runs (a
        shared PostgreSQL store) is left alone. The error says how to continue.
        """
        if job.status in TERMINAL or job.pid is None or job.host not in (None, HOST):
            return job
        if _pid_alive(job.pid):
            return job
        message = (
            f"the training process (pid {job.pid}) is gone; continue with "
            f"tunewise train --resume {job.id}"
        )
        error = {"code": "process_gone", "message": message, "param": None}
        now = _now()
        with transaction(self.engine) as s:
            changed = (
                s.connection()
                .execute(  # a Connection's result has the rowcount
                    update(JobRow)
                    .where(JobRow.id == job.id, JobRow.status == job.status, JobRow.pid == job.pid)
                    .values(status="failed", error=error, finished_at=now, updated_at=now)
                )
                .rowcount
            )
            if changed:
                _add_event(s, job.id, message, level="error")
        return self.get(job.id)

    def set_status(
        self, job_id: str, status: str, *, error: dict[str, Any] | None = None, **fields: Any
    ) -> None:
        """Move a job to `status`; `fields` may set pid (with this host), result, trained_tokens."""
        if status not in STATUSES:
            raise ValueError(status)
        unknown = set(fields) - _SETTABLE
        if unknown:
            raise TypeError(f"set_status cannot change {sorted(unknown)}")
        values: dict[str, Any] = {"status": status, "updated_at": _now(), **fields}
        if "pid" in fields:
            values["host"] = HOST
        if error is not None:
            values["error"] = error
        if status in TERMINAL:
            values["finished_at"] = _now()
        with transaction(self.engine) as s:
            s.execute(update(JobRow).where(JobRow.id == job_id).values(**values))

    def request_cancel(self, job_id: str) -> Job:
        """Cancel a job: a running job's loop sees the flag and stops; anything else stops now."""
        self.get(job_id)  # reconciles a job whose process died
        with transaction(self.engine) as s:
            row = s.scalar(select(JobRow).where(JobRow.id == job_id).with_for_update())
            assert row is not None
            if row.status in TERMINAL:
                raise JobError(f"job {job_id} is already {row.status}; nothing to cancel")
            row.cancel_requested, row.updated_at = True, _now()
            # A process on another host cannot be checked from here: assume it will see the flag.
            elsewhere = row.host not in (None, HOST)
            alive = row.pid is not None and (elsewhere or _pid_alive(row.pid))
            if row.status != "running" or not alive:
                row.status, row.finished_at = "cancelled", _now()
                _add_event(s, job_id, "Job cancelled")
            else:
                _add_event(
                    s, job_id, "Cancellation requested; the training loop stops at the next step"
                )
        return self.get(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        with transaction(self.engine) as s:
            return bool(s.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id)))

    def reopen(self, job_id: str, pid: int) -> None:
        """A resumed job runs again in process `pid` of this host (cancel flag cleared)."""
        with transaction(self.engine) as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values(
                    status="queued",
                    cancel_requested=False,
                    error=None,
                    finished_at=None,
                    pid=pid,
                    host=HOST,
                    updated_at=_now(),
                )
            )

    # events ----------------------------------------------------------------------------------
    def event(
        self,
        job_id: str,
        message: str,
        *,
        level: str = "info",
        type: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        with transaction(self.engine) as s:
            _add_event(s, job_id, message, level=level, type=type, data=data)

    def events(
        self, job_id: str, after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Events oldest first, as fine_tuning.job.event objects; `after` is an event id."""
        self.get(job_id)
        start = _event_seq(after) if after else 0
        query = (
            select(EventRow)
            .where(EventRow.job_id == job_id, EventRow.seq > start)
            .order_by(EventRow.seq)
            .limit(limit)
        )
        with transaction(self.engine) as s:
            return [
                {
                    "id": f"ftevent-{r.seq}",
                    "object": "fine_tuning.job.event",
                    "created_at": r.created_at,
                    "level": r.level,
                    "message": r.message,
                    "type": r.type,
                    "data": r.data or {},
                }
                for r in s.scalars(query)
            ]

    # checkpoints -----------------------------------------------------------------------------
    def add_checkpoint(
        self, job_id: str, step: int, path: str, metrics: dict[str, Any]
    ) -> Checkpoint:
        ck = Checkpoint("ftckpt-" + uuid.uuid4().hex[:20], job_id, _now(), step, path, metrics)
        with transaction(self.engine) as s:
            s.add(CheckpointRow(**ck.__dict__))
        return ck

    def checkpoints(self, job_id: str) -> list[Checkpoint]:
        """Oldest first."""
        query = (
            select(CheckpointRow)
            .where(CheckpointRow.job_id == job_id)
            .order_by(CheckpointRow.step, CheckpointRow.created_at)
        )
        with transaction(self.engine) as s:
            return [
                Checkpoint(r.id, r.job_id, r.created_at, r.step, r.path, r.metrics or {})
                for r in s.scalars(query)
            ]

    def drop_checkpoint(self, ck_id: str) -> None:
        with transaction(self.engine) as s:
            row = s.get(CheckpointRow, ck_id)
            if row is not None:
                s.delete(row)


def _add_event(
    s: Any,
    job_id: str,
    message: str,
    *,
    level: str = "info",
    type: str = "message",
    data: dict[str, Any] | None = None,
) -> None:
    s.add(
        EventRow(
            job_id=job_id, created_at=_now(), level=level, type=type, message=message, data=data
        )
    )


def _event_seq(after: str) -> int:
    try:
        return int(after.rsplit("-", 1)[-1])
    except ValueError:
        raise JobError(f"'{after}' is not an event id (ftevent-N)") from None


def _job(row: JobRow) -> Job:
    return Job(
        id=row.id,
        status=row.status,
        backend=row.backend,
        method=row.method,
        base=row.base,
        data=row.data,
        out=row.out,
        config=row.config,
        created_at=row.created_at,
        updated_at=row.updated_at,
        pid=row.pid,
        cancel_requested=bool(row.cancel_requested),
        error=row.error,
        result=row.result,
        trained_tokens=row.trained_tokens,
        finished_at=row.finished_at,
        host=row.host,
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
