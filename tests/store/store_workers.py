"""Workers of the multi-process store tests (importable by name, so spawned processes can run
them), and the script each process of a start-at-the-same-moment race runs."""

from __future__ import annotations

import os
from typing import Any

# A process of a race: imports first, says it is ready (touches argv[2].N), waits for the go file
# argv[2], then opens the database (argv[1], empty: the default) and creates a job; prints its id.
RACER = """
import os, sys, time
from pathlib import Path
import sqlalchemy, alembic.command, tunewise.store.engine, tunewise.store.legacy, tunewise.train.jobs
go = Path(sys.argv[2])
Path(f"{go}.{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.001)
from tunewise.train.jobs import JobStore
store = JobStore(sys.argv[1] or None)
print(store.create(method="lora", base="b", data="d", out="o", config={}).id)
"""


def churn_jobs(url: str, worker: int, shared: str, jobs: int, events: int, barrier: Any) -> None:
    """Create `jobs` jobs and walk each through its statuses with `events` metrics events,
    writing to the job every worker shares between each of them."""
    from tunewise.train.jobs import JobStore

    store = JobStore(url)
    barrier.wait(timeout=120)
    for k in range(jobs):
        job = store.create(
            method="lora", base="b", data="d", out=f"/o/{worker}/{k}", config={"w": worker, "k": k}
        )
        store.set_status(job.id, "queued")
        store.set_status(job.id, "running", pid=os.getpid())
        for i in range(events):
            store.event(job.id, f"w{worker} j{k} e{i}", type="metrics", data={"step": i})
            store.event(shared, f"w{worker} e{k * events + i}")
        store.add_checkpoint(job.id, events, f"/ck/{worker}/{k}", {"step": events})
        store.set_status(job.id, "succeeded", result={"w": worker, "k": k}, trained_tokens=k)
