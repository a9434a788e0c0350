"""A job's cancel flag set by one process (`tunewise jobs cancel`) stops a real training process
(`tunewise train` on the tiny model), on SQLite and PostgreSQL; the job ends `cancelled` and
`tunewise train --resume` continues it from its last checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tunewise.train.jobs import JobStore

pytest.importorskip("torch")


def _dataset(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rows = [
        {
            "id": f"r{i}",
            "messages": [
                {"role": "user", "content": f"What is {i % 7} plus {i % 5}?"},
                {"role": "assistant", "content": json.dumps({"sum": i % 7 + i % 5})},
            ],
        }
        for i in range(24)
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:20]))
    (folder / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[20:]))
    (folder / "manifest.json").write_text(json.dumps({"version": "1.0.0", "files": {}}))
    return folder


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tunewise", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(store: JobStore, what: str, check, timeout: float = 300):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _cancel(job_id: str, env: dict[str, str]) -> str:
    done = _cli("jobs", "cancel", job_id, env=env)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_cancel_from_the_cli_stops_training_and_the_job_resumes(
    backend: str, request: pytest.FixtureRequest, tiny_model: Path, tmp_path: Path, _state: Path
) -> None:
    url = None if backend == "sqlite" else str(request.getfixturevalue("pg_url"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEWISE_")}
    env.update(TUNEWISE_HOME=str(_state), PYTHONPATH=os.pathsep.join(sys.path))
    if url:
        env["TUNEWISE_DB_URL"] = url
    store = JobStore(url)  # the test's own view, through the same database
    args = ["--data", str(_dataset(tmp_path / "ds")), "--base", str(tiny_model)]
    args += ["--out", str(tmp_path / "out"), "--max-steps", "400", "--checkpoint-steps", "2"]
    args += ["--batch-size", "2", "--no-progress"]
    train = _cli("train", *args, env=env)

    def checkpointed() -> str | None:
        jobs = store.list_jobs(limit=1)
        return jobs[0].id if jobs and store.checkpoints(jobs[0].id) else None

    job_id = _wait_for(store, "the first checkpoint", checkpointed)
    assert "cancellation requested" in _cancel(job_id, env)
    out, err = train.communicate(timeout=300)
    assert train.returncode == 1, out + err
    assert f"tunewise train --resume {job_id}" in err
    job = store.get(job_id)
    assert job.status == "cancelled" and job.finished_at
    messages = [e["message"] for e in store.events(job_id, limit=10_000)]
    assert any(m.startswith("Cancellation requested") for m in messages)
    assert messages[-1] == "Job cancelled"
    steps = [
        e["data"]["step"] for e in store.events(job_id, limit=10_000) if e["type"] == "metrics"
    ]
    assert max(steps) < 400  # stopped mid-run
    last = store.checkpoints(job_id)[-1].step
    if url is None:  # the one database is the only thing in a fresh state folder
        assert {p.name for p in _state.iterdir()} <= {
            "tunewise.db",
            "tunewise.db-wal",
            "tunewise.db-shm",
        }

    resumed = _cli("train", "--resume", job_id, "--no-progress", env=env)
    seen = len(messages)

    def trained_again() -> bool:
        later = store.events(job_id, limit=10_000)[seen:]
        return any(e["type"] == "metrics" and e["data"]["step"] > last for e in later)

    _wait_for(store, "training after the resume", trained_again)
    later = [e["message"] for e in store.events(job_id, limit=10_000)[seen:]]
    assert any(f"resumed at step {last}" in m for m in later), later
    assert store.get(job_id).status == "running"
    _cancel(job_id, env)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 1 and store.get(job_id).status == "cancelled", out + err
