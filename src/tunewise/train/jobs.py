"""The job store: fine-tuning jobs, their events and checkpoints in SQLite (`state_dir()/jobs.db`).

Shapes follow OpenAI's fine-tuning API so a hosted backend can fill the same records: statuses
validating_files, queued, running, succeeded, failed, cancelled; events {id, object:
"fine_tuning.job.event", created_at, level, message, type: message|metrics, data}. Every write is
one transaction; WAL mode lets `tunewise jobs cancel` write while a training process reads.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.errors import JobError
from tunewise.paths import state_dir

STATUSES = ("validating_files", "queued", "running", "succeeded", "failed", "cancelled")
TERMINAL = ("succeeded", "failed", "cancelled")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  status TEXT NOT NULL, backend TEXT NOT NULL, method TEXT NOT NULL, base TEXT NOT NULL,
  data TEXT NOT NULL, out TEXT NOT NULL, config TEXT NOT NULL, pid INTEGER,
  cancel_requested INTEGER NOT NULL DEFAULT 0, error TEXT, result TEXT,
  trained_tokens INTEGER, finished_at INTEGER
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, created_at INTEGER NOT NULL,
  level TEXT NOT NULL, type TEXT NOT NULL, message TEXT NOT NULL, data TEXT
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
  id TEXT PRIMARY KEY, job_id TEXT NOT NULL, created_at INTEGER NOT NULL, step INTEGER NOT NULL,
  path TEXT NOT NULL, metrics TEXT
);
"""


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
    """SQLite-backed jobs, events and checkpoints. Safe to use from several processes."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else state_dir() / "jobs.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)  # idempotent; executescript commits itself
        finally:
            db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        finally:
            db.close()

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
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (id, created_at, updated_at, status, backend, method, base, data, out, config)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    job_id,
                    now,
                    now,
                    "validating_files",
                    backend,
                    method,
                    base,
                    data,
                    out,
                    json.dumps(config),
                ),
            )
        self.event(job_id, f"Created fine-tuning job: {job_id}")
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        with self._tx() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobError(f"no job '{job_id}' in {self.path}; run tunewise jobs list")
        return self._reconcile(_job(row))

    def list_jobs(self, limit: int = 20, after: str | None = None) -> list[Job]:
        """Newest first; `after` pages like OpenAI's SDK (jobs created before that job)."""
        with self._tx() as db:
            if after:
                anchor = db.execute("SELECT rowid FROM jobs WHERE id = ?", (after,)).fetchone()
                rows = db.execute(
                    "SELECT * FROM jobs WHERE rowid < ? ORDER BY rowid DESC LIMIT ?",
                    (anchor[0] if anchor else 0, limit),
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM jobs ORDER BY rowid DESC LIMIT ?", (limit,)
                ).fetchall()
        return [self._reconcile(_job(r)) for r in rows]

    def _reconcile(self, job: Job) -> Job:
        """A job still marked active whose process is gone (killed, machine rebooted) is failed.

        The error says how to continue; `--resume` reopens it. The pid is this machine's (the
        store is a local SQLite file).
        """
        if job.status in TERMINAL or job.pid is None or _pid_alive(job.pid):
            return job
        message = (
            f"the training process (pid {job.pid}) is gone; continue with "
            f"tunewise train --resume {job.id}"
        )
        error = {
            "code": "process_gone",
            "message": message,
            "param": None,
        }
        with self._tx() as db:
            changed = db.execute(
                "UPDATE jobs SET status='failed', error=?, finished_at=?, updated_at=? "
                "WHERE id=? AND status=? AND pid=?",
                (json.dumps(error), _now(), _now(), job.id, job.status, job.pid),
            ).rowcount
        if changed:
            self.event(job.id, message, level="error")
        return self.get(job.id)

    def set_status(
        self, job_id: str, status: str, *, error: dict[str, Any] | None = None, **fields: Any
    ) -> None:
        if status not in STATUSES:
            raise ValueError(status)
        cols = {"status": status, "updated_at": _now(), **fields}
        if error is not None:
            cols["error"] = json.dumps(error)
        if status in TERMINAL:
            cols["finished_at"] = _now()
        for k in ("result",):
            if k in cols and not isinstance(cols[k], str):
                cols[k] = json.dumps(cols[k])
        sets = ", ".join(f"{k} = ?" for k in cols)
        with self._tx() as db:
            db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*cols.values(), job_id))

    def request_cancel(self, job_id: str) -> Job:
        """Cancel a job: a running job's loop sees the flag and stops; anything else stops now."""
        job = self.get(job_id)
        if job.status in TERMINAL:
            raise JobError(f"job {job_id} is already {job.status}; nothing to cancel")
        alive = job.pid is not None and _pid_alive(job.pid)
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?",
                (_now(), job_id),
            )
        if job.status != "running" or not alive:
            self.set_status(job_id, "cancelled")
            self.event(job_id, "Job cancelled")
        else:
            self.event(job_id, "Cancellation requested; the training loop stops at the next step")
        return self.get(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        with self._tx() as db:
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def reopen(self, job_id: str, pid: int) -> None:
        """A resumed job runs again (cancel flag cleared)."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET status='queued', cancel_requested=0, error=NULL, finished_at=NULL, pid=?, updated_at=? WHERE id=?",
                (pid, _now(), job_id),
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
        with self._tx() as db:
            db.execute(
                "INSERT INTO events (job_id, created_at, level, type, message, data) VALUES (?,?,?,?,?,?)",
                (
                    job_id,
                    _now(),
                    level,
                    type,
                    message,
                    json.dumps(data) if data is not None else None,
                ),
            )

    def events(
        self, job_id: str, after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Events oldest first, as fine_tuning.job.event objects; `after` is an event id."""
        self.get(job_id)
        start = int(after.rsplit("-", 1)[-1]) if after else 0
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (job_id, start, limit),
            ).fetchall()
        return [
            {
                "id": f"ftevent-{r['seq']}",
                "object": "fine_tuning.job.event",
                "created_at": r["created_at"],
                "level": r["level"],
                "message": r["message"],
                "type": r["type"],
                "data": json.loads(r["data"]) if r["data"] else {},
            }
            for r in rows
        ]

    # checkpoints -----------------------------------------------------------------------------
    def add_checkpoint(
        self, job_id: str, step: int, path: str, metrics: dict[str, Any]
    ) -> Checkpoint:
        ck = Checkpoint("ftckpt-" + uuid.uuid4().hex[:20], job_id, _now(), step, path, metrics)
        with self._tx() as db:
            db.execute(
                "INSERT INTO checkpoints (id, job_id, created_at, step, path, metrics) VALUES (?,?,?,?,?,?)",
                (ck.id, job_id, ck.created_at, step, path, json.dumps(metrics)),
            )
        return ck

    def checkpoints(self, job_id: str) -> list[Checkpoint]:
        """Oldest first."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM checkpoints WHERE job_id = ? ORDER BY step, created_at", (job_id,)
            ).fetchall()
        return [
            Checkpoint(
                r["id"],
                r["job_id"],
                r["created_at"],
                r["step"],
                r["path"],
                json.loads(r["metrics"] or "{}"),
            )
            for r in rows
        ]

    def drop_checkpoint(self, ck_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM checkpoints WHERE id = ?", (ck_id,))


def _job(row: sqlite3.Row) -> Job:
    d = dict(row)
    d["config"] = json.loads(d["config"])
    d["cancel_requested"] = bool(d["cancel_requested"])
    for k in ("error", "result"):
        d[k] = json.loads(d[k]) if d[k] else None
    return Job(**d)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
