"""The job queue in the store: workers register, claim jobs in order, and give them back.

Claiming: one transaction selects the oldest job in the wanted status that no worker holds
(`ORDER BY fine_tuning_jobs.seq`, creation order) and sets `worker_id` with an UPDATE that is
conditional on `worker_id IS NULL`; the claim stands only if that UPDATE changed one row. On
SQLite every transaction begins with BEGIN IMMEDIATE (one writer at a time); on PostgreSQL the
SELECT takes the row with FOR UPDATE SKIP LOCKED, so two workers skip each other's rows, and the
conditional UPDATE re-checks the row after any wait. Either way two workers never hold one job.

A worker checks in every few seconds. One that has not for `lease_s` (or whose process on this
host is gone) has its jobs given back: a training job is queued again and continues from its
last checkpoint, a validating job is validated again, a pausing job is paused.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from sqlalchemy import select, update

from tunewise.serve.finetune.service import add_event, job_row, now
from tunewise.serve.finetune.tables import ApiJobRow, WorkerRow
from tunewise.store import transaction
from tunewise.train.tables import JobRow

HOST = socket.gethostname()
HELD = ("validating_files", "running", "pausing")


def register_worker(engine: Any, concurrency: int) -> str:
    worker_id = f"worker-{HOST}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    stamp = now()
    with transaction(engine) as s:
        s.add(
            WorkerRow(
                id=worker_id,
                host=HOST,
                pid=os.getpid(),
                concurrency=concurrency,
                started_at=stamp,
                heartbeat_at=stamp,
            )
        )
    return worker_id


def heartbeat(engine: Any, worker_id: str, *, stopped: bool = False) -> None:
    values: dict[str, Any] = {"heartbeat_at": now()}
    if stopped:
        values["stopped_at"] = now()
    with transaction(engine) as s:
        s.execute(update(WorkerRow).where(WorkerRow.id == worker_id).values(**values))


def claim(engine: Any, worker_id: str, status: str) -> str | None:
    """Take the oldest unheld job in `status` (a queued one starts running); its id, or None."""
    with transaction(engine) as s:
        query = (
            select(JobRow.id)
            .join(ApiJobRow, ApiJobRow.job_id == JobRow.id)
            .where(JobRow.status == status, ApiJobRow.worker_id.is_(None))
            .order_by(JobRow.seq)
            .limit(1)
        )
        if s.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=ApiJobRow)
        job_id = s.scalar(query)
        if job_id is None:
            return None
        taken = (
            s.connection()
            .execute(
                update(ApiJobRow)
                .where(ApiJobRow.job_id == job_id, ApiJobRow.worker_id.is_(None))
                .values(worker_id=worker_id, claimed_at=now())
            )
            .rowcount
        )
        if taken != 1:
            return None
        if status == "queued":
            job = job_row(s, job_id, lock=True)
            assert job is not None
            resumed = _last_step(s, job_id)
            job.status, job.updated_at, job.cancel_requested = "running", now(), False
            add_event(
                s,
                job_id,
                f"Fine-tuning job resumed from its checkpoint at step {resumed}"
                if resumed
                else "Fine-tuning job started",
            )
        return str(job_id)


def _last_step(s: Any, job_id: str) -> int | None:
    from sqlalchemy import func

    from tunewise.train.tables import CheckpointRow

    return s.scalar(select(func.max(CheckpointRow.step)).where(CheckpointRow.job_id == job_id))


def release(
    engine: Any,
    job_id: str,
    *,
    expect: tuple[str, ...],
    status: str | None,
    holder: str | None = None,
    events: tuple[tuple[str, str], ...] = (),
    error: dict[str, Any] | None = None,
    api_fields: dict[str, Any] | None = None,
    **job_fields: Any,
) -> bool:
    """Give a held job back, moving it to `status` if it is still in one of `expect`.

    Returns whether the move happened: a client may have cancelled the job meanwhile, in which
    case only the hold is dropped. With `holder`, nothing changes unless that worker still holds
    the job. `events` are (level, message) pairs recorded with the move.
    """
    with transaction(engine) as s:
        job = job_row(s, job_id, lock=True)
        api = s.get(ApiJobRow, job_id, with_for_update=True)
        assert job is not None and api is not None
        if holder is not None and api.worker_id != holder:
            return False
        api.worker_id, api.interrupt = None, None
        if status is None or job.status not in expect:
            return False
        job.status, job.updated_at, job.cancel_requested = status, now(), False
        if status in ("succeeded", "failed", "cancelled"):
            job.finished_at = now()
        if error is not None:
            job.error = error
        for key, value in job_fields.items():
            setattr(job, key, value)
        for key, value in (api_fields or {}).items():
            setattr(api, key, value)
        for level, message in events:
            add_event(s, job_id, message, level=level)
        return True


def give_back_orphans(engine: Any, lease_s: float) -> list[str]:
    """Jobs held by workers that are gone, given back; returns their ids."""
    from tunewise.train.jobs import _pid_alive

    stale = now() - lease_s
    with transaction(engine) as s:
        held = s.execute(
            select(ApiJobRow.job_id, ApiJobRow.worker_id, WorkerRow)
            .outerjoin(WorkerRow, WorkerRow.id == ApiJobRow.worker_id)
            .where(ApiJobRow.worker_id.is_not(None))
        ).all()
    gone = [
        (job_id, str(worker_id))
        for job_id, worker_id, w in held
        if w is None
        or w.stopped_at is not None
        or w.heartbeat_at < stale
        or (w.host == HOST and not _pid_alive(w.pid))
    ]
    for job_id, worker_id in gone:
        _give_back(engine, job_id, worker_id)
    return [job_id for job_id, _ in gone]


def _give_back(engine: Any, job_id: str, worker_id: str) -> None:
    with transaction(engine) as s:
        job = job_row(s, job_id, lock=True)
        api = s.get(ApiJobRow, job_id, with_for_update=True)
        if job is None or api is None or api.worker_id != worker_id:
            return  # taken care of meanwhile
        api.worker_id, api.interrupt = None, None
        step = _last_step(s, job_id)
        where = f"its checkpoint at step {step}" if step else "the start (no checkpoint yet)"
        if job.status == "running":
            job.status, job.cancel_requested = "queued", False
            add_event(
                s,
                job_id,
                f"Worker {worker_id} is gone; job requeued, it continues from {where}",
                level="warn",
            )
        elif job.status == "pausing":
            job.status, job.cancel_requested = "paused", False
            add_event(s, job_id, f"Worker {worker_id} is gone; job paused at {where}")
        job.updated_at = now()


def interrupt_own(engine: Any, worker_id: str, reason: str) -> list[str]:
    """Ask this worker's training processes to stop at their next step (`requeue`)."""
    with transaction(engine) as s:
        rows = s.execute(
            select(JobRow, ApiJobRow)
            .join(ApiJobRow, ApiJobRow.job_id == JobRow.id)
            .where(ApiJobRow.worker_id == worker_id, JobRow.status == "running")
        ).all()
        for job, api in rows:
            job.cancel_requested, api.interrupt = True, reason
        return [job.id for job, _ in rows]
