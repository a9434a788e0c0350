"""The job store in the one database, on SQLite and PostgreSQL: OpenAI's shapes, paging with
`after`, checkpoints, the cancel flag, and the dead-process reconcile (this host only)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import update

from tunewise.errors import JobError
from tunewise.store import transaction
from tunewise.train.jobs import HOST, JobStore
from tunewise.train.tables import JobRow


def _job(store: JobStore, **config: object):  # type: ignore[no-untyped-def]
    return store.create(method="lora", base="b", data="/d", out="/o", config=dict(config))


def test_jobs_events_checkpoints_in_openai_shapes(db_url: str) -> None:
    store = JobStore(db_url)
    jobs = [_job(store, n=i) for i in range(5)]
    assert jobs[0].to_json()["object"] == "fine_tuning.job"
    assert jobs[0].status == "validating_files" and jobs[0].config == {"n": 0}
    newest_first = [j.id for j in reversed(jobs)]
    assert [j.id for j in store.list_jobs()] == newest_first
    page1 = store.list_jobs(limit=2)
    page2 = store.list_jobs(limit=2, after=page1[-1].id)
    page3 = store.list_jobs(limit=2, after=page2[-1].id)
    assert [j.id for j in page1 + page2 + page3] == newest_first

    job = jobs[0]
    store.set_status(job.id, "running", pid=os.getpid())
    for step in range(1, 4):
        store.event(job.id, f"step {step}", type="metrics", data={"step": step, "train_loss": 1.0})
    events = store.events(job.id)
    assert [e["message"] for e in events][1:] == ["step 1", "step 2", "step 3"]
    assert set(events[0]) == {"id", "object", "created_at", "level", "message", "type", "data"}
    assert events[0]["object"] == "fine_tuning.job.event" and events[0]["id"].startswith("ftevent-")
    assert store.events(job.id, after=events[1]["id"], limit=1)[0]["message"] == "step 2"
    with pytest.raises(JobError, match="not an event id"):
        store.events(job.id, after="bogus")

    a = store.add_checkpoint(job.id, 2, "/ck/2", {"step": 2, "train_loss": 0.5})
    store.add_checkpoint(job.id, 4, "/ck/4", {"step": 4})
    store.drop_checkpoint(a.id)
    assert [(c.step, c.path) for c in store.checkpoints(job.id)] == [(4, "/ck/4")]

    store.set_status(
        job.id, "succeeded", result={"out": "/o", "metrics": {"steps": 4}}, trained_tokens=99
    )
    done = JobStore(db_url).get(job.id)  # another store object, same database
    assert done.status == "succeeded" and done.finished_at and done.trained_tokens == 99
    assert done.result == {"out": "/o", "metrics": {"steps": 4}} and done.host == HOST
    with pytest.raises(JobError, match="no job 'ftjob-nope'"):
        store.get("ftjob-nope")


def test_cancel_flag_and_states(db_url: str) -> None:
    store = JobStore(db_url)
    queued = _job(store)
    assert store.request_cancel(queued.id).status == "cancelled"  # not running: stops now
    with pytest.raises(JobError, match="already cancelled"):
        store.request_cancel(queued.id)

    running = _job(store)
    store.set_status(running.id, "running", pid=os.getpid())
    seen = store.request_cancel(running.id)
    assert seen.status == "running" and seen.cancel_requested  # the loop stops it
    assert JobStore(db_url).cancel_requested(running.id)
    store.reopen(running.id, pid=1)
    assert not store.cancel_requested(running.id)


def test_dead_process_is_failed_only_on_its_own_host(db_url: str) -> None:
    store = JobStore(db_url)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here, there = _job(store), _job(store)
    store.set_status(here.id, "running", pid=dead.pid)
    store.set_status(there.id, "running", pid=dead.pid)
    with transaction(store.engine) as s:  # as if a trainer on another machine had written it
        s.execute(update(JobRow).where(JobRow.id == there.id).values(host="gpu-node-7"))

    failed = store.get(here.id)
    assert failed.status == "failed" and failed.error["code"] == "process_gone"
    assert f"tunewise train --resume {here.id}" in failed.error["message"]
    assert [e["level"] for e in store.events(here.id)][-1] == "error"
    other = store.get(there.id)
    assert other.status == "running"  # its pid means nothing on this machine
    # Cancelling it sets the flag for the remote trainer instead of declaring it cancelled.
    assert store.request_cancel(there.id).status == "running"
    assert store.cancel_requested(there.id)
