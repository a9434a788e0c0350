"""Several processes on one database at once, on SQLite and on the real PostgreSQL: jobs created,
events appended and statuses moved concurrently; a fresh database opened at the same moment by
several processes (the migration race, with and without legacy files to import)."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, inspect, select, text
from store_workers import RACER, churn_jobs

from tunewise.store import get_engine
from tunewise.store.migrate import current_revision, head_revision
from tunewise.store.tables import LegacyImport
from tunewise.train.jobs import HOST, JobStore

PROCS, JOBS, EVENTS = 4, 3, 10
LEGACY = Path(__file__).resolve().parent / "legacy"


def test_concurrent_jobs_events_and_statuses(db_url: str) -> None:
    store = JobStore(db_url)
    shared = store.create(method="lora", base="b", data="d", out="/o", config={}).id
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(PROCS)
    procs = [
        ctx.Process(target=churn_jobs, args=(db_url, w, shared, JOBS, EVENTS, barrier))
        for w in range(PROCS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0] * PROCS

    jobs = store.list_jobs(limit=1000)
    assert len(jobs) == PROCS * JOBS + 1 == len({j.id for j in jobs})
    paged, after = [], None
    while page := store.list_jobs(limit=5, after=after):
        paged += [j.id for j in page]
        after = page[-1].id
    assert paged == [j.id for j in jobs]  # paging with `after` sees each job once, in order
    for w in range(PROCS):
        mine = [j for j in jobs if j.config.get("w") == w]
        assert [j.config["k"] for j in mine] == list(reversed(range(JOBS)))  # newest first
        for j in mine:
            assert j.status == "succeeded" and j.host == HOST and j.finished_at
            assert j.result == {"w": w, "k": j.config["k"]}
            messages = [e["message"] for e in store.events(j.id, limit=1000)]
            assert messages == [f"Created fine-tuning job: {j.id}"] + [
                f"w{w} j{j.config['k']} e{i}" for i in range(EVENTS)
            ]
            assert [c.step for c in store.checkpoints(j.id)] == [EVENTS]

    events = store.events(shared, limit=10_000)
    assert len(events) == 1 + PROCS * JOBS * EVENTS
    ids = [int(e["id"].split("-")[1]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for w in range(PROCS):  # each writer's events in the order it wrote them
        mine = [e["message"] for e in events if e["message"].startswith(f"w{w} ")]
        assert mine == [f"w{w} e{i}" for i in range(JOBS * EVENTS)]


def _race(
    url: str, env: dict[str, str], go: Path, n: int = PROCS
) -> list[subprocess.CompletedProcess]:
    """`n` processes that open `url` at the same moment, each creating one job."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, url, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    deadline = time.time() + 180
    while len(list(go.parent.glob(go.name + ".*"))) < n and time.time() < deadline:
        time.sleep(0.05)  # every process has imported everything and waits
    go.touch()
    done = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEWISE_")}
    return {**env, "TUNEWISE_HOME": str(state), "PYTHONPATH": os.pathsep.join(sys.path)}


def test_fresh_database_opened_by_several_processes_at_once(db_url: str, _state: Path) -> None:
    results = _race(db_url, _env(_state), _state.parent / "go")
    assert [r.returncode for r in results] == [0] * PROCS, [r.stderr for r in results]
    ids = {r.stdout.strip() for r in results}
    assert len(ids) == PROCS
    engine = get_engine(db_url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    assert "fine_tuning_jobs" in inspect(engine).get_table_names()
    assert {j.id for j in JobStore(db_url).list_jobs()} == ids


def test_legacy_files_imported_once_when_several_processes_start(db_url: str, _state: Path) -> None:
    _state.mkdir(parents=True)
    for name in ("registry.db", "jobs.db"):
        shutil.copy(LEGACY / name, _state / name)
    results = _race(db_url, _env(_state), _state.parent / "go")
    assert [r.returncode for r in results] == [0] * PROCS, [r.stderr for r in results]
    notices = [r.stderr for r in results if r.stderr]
    assert len(notices) == 1 and "imported registry.db" in notices[0], notices
    engine = get_engine(db_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(LegacyImport)) == 2
        assert conn.scalar(text("SELECT count(*) FROM models")) == 4
    assert len(JobStore(db_url).list_jobs(limit=100)) == 3 + PROCS
    assert not (_state / "registry.db").exists() and not (_state / "jobs.db").exists()
