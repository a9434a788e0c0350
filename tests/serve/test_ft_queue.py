"""The queue's promises, on SQLite and on a real PostgreSQL: workers in separate processes
claiming at once never take one job twice and take them in creation order; a dead worker's
jobs come back to the queue."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

from tunewise.serve.finetune import queue
from tunewise.serve.finetune.service import add_event, job_row, now
from tunewise.serve.finetune.tables import ApiJobRow, WorkerRow
from tunewise.store import get_engine, transaction
from tunewise.train.tables import JobRow

N_JOBS = 40


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tunewise.db'}"
    return str(request.getfixturevalue("pg_url"))


def queued_jobs(url: str, n: int, status: str = "queued") -> list[str]:
    """`n` API jobs waiting in `status`, oldest first."""
    engine = get_engine(url)
    ids = []
    for i in range(n):
        job_id = f"ftjob-{i:04d}{os.urandom(4).hex()}"
        with transaction(engine) as s:
            s.add(
                JobRow(
                    id=job_id,
                    created_at=now(),
                    updated_at=now(),
                    status=status,
                    backend="api",
                    method="lora",
                    base="b",
                    data="d",
                    out="o",
                    config={},
                    cancel_requested=False,
                )
            )
            s.flush()
            s.add(
                ApiJobRow(
                    job_id=job_id,
                    organization="o",
                    model="m",
                    training_file="f",
                    seed=0,
                    method={},
                    fine_tuned_model="ft:m:o::x",
                    workdir="w",
                )
            )
            add_event(s, job_id, "created")
        ids.append(job_id)
    return ids


def _claimer(url: str, out: mp.Queue) -> None:
    from tunewise.store import get_engine

    engine = get_engine(url)
    worker = queue.register_worker(engine, 1)
    taken = []
    while (job_id := queue.claim(engine, worker, "queued")) is not None:
        taken.append(job_id)
    out.put((worker, taken))


def test_concurrent_workers_never_share_a_job(db_url: str) -> None:
    ids = queued_jobs(db_url, N_JOBS)
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(db_url, out)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(60)
    taken = [job for _, jobs in results for job in jobs]
    assert sorted(taken) == sorted(ids)  # every job once: none lost, none twice
    for _, jobs in results:  # each worker got its jobs in creation order
        assert jobs == sorted(jobs, key=ids.index)
    with transaction(get_engine(db_url)) as s:
        rows = {a.job_id: a.worker_id for a in s.query(ApiJobRow)}
        statuses = {job_row(s, j).status for j in ids}
    holders = {w for w, _ in results}
    assert statuses == {"running"} and set(rows.values()) <= holders


def test_dead_workers_jobs_are_given_back(db_url: str) -> None:
    engine = get_engine(db_url)
    running, validating = queued_jobs(db_url, 2)
    with transaction(engine) as s:
        job_row(s, validating).status = "validating_files"
    dead = queue.register_worker(engine, 1)
    assert queue.claim(engine, dead, "queued") == running
    assert queue.claim(engine, dead, "validating_files") == validating
    assert queue.give_back_orphans(engine, lease_s=60) == []  # alive and checking in
    with transaction(engine) as s:
        s.get(WorkerRow, dead).heartbeat_at = now() - 120
    assert sorted(queue.give_back_orphans(engine, lease_s=60)) == sorted([running, validating])
    with transaction(engine) as s:
        assert job_row(s, running).status == "queued"
        assert job_row(s, validating).status == "validating_files"
        assert s.get(ApiJobRow, running).worker_id is None
    alive = queue.register_worker(engine, 1)
    assert queue.claim(engine, alive, "queued") == running  # taken again, from its checkpoint
