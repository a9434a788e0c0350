"""`tunewise run --resume` the hard way: SIGKILL a run during training, resume it, and check the
job continued (same id, from the checkpoint's step, no restart) and the later stages ran once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from test_run_e2e import _config
from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.errors import TunewiseError
from tunewise.train.jobs import JobStore

MAX_STEPS = 12


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUNEWISE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _tunewise(*args: str) -> subprocess.Popen[str]:
    """`tunewise ARGS` in its own process group (so the kill takes every child with it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tunewise", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _kill_after_first_checkpoint(proc: subprocess.Popen[str], store: JobStore) -> str:
    """Wait until the training job records a checkpoint, then SIGKILL the run; returns the job id."""
    deadline = time.time() + 240
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before a checkpoint:\n{proc.communicate()[0]}")
        jobs = store.list_jobs(limit=1)
        if jobs and store.checkpoints(jobs[0].id):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            return jobs[0].id
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("no checkpoint within 240 s")


def test_a_killed_run_resumes_its_training_job(home: Path, tiny_model: Path) -> None:
    config = _config(home, tiny_model, batch_size=2, max_steps=MAX_STEPS, checkpoint_steps=2)
    cfg = yaml.safe_load(config.read_text())
    cfg["run"]["few_shot"] = 0  # the baseline is not what this test is about
    cfg["run"]["classifier"] = False
    config.write_text(yaml.safe_dump(cfg))
    store = JobStore()
    job_id = _kill_after_first_checkpoint(_tunewise("run", str(config), "--no-progress"), store)
    run_dir = home / "runs" / "support-intent"
    assert json.loads((run_dir / "train" / "job.json").read_text()) == {"job_id": job_id}
    assert not (run_dir / "train" / "stage.json").exists()
    assert not (run_dir / "compare").exists()
    saved = [c.step for c in store.checkpoints(job_id) if Path(c.path).is_dir()]
    assert saved and saved[-1] < MAX_STEPS
    killed_at = max(
        e["data"]["step"] for e in store.events(job_id, limit=1000) if e["type"] == "metrics"
    )

    resumed = _tunewise("run", str(config), "--no-progress", "--resume")
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 10, output  # a random tiny model cannot pass the gate
    status = {
        s["name"]: s["status"] for s in json.loads((run_dir / "summary.json").read_text())["stages"]
    }
    assert status == {
        "data": "cached",
        "decide": "cached",
        "cost": "cached",
        "baseline": "cached",
        "cheapest": "cached",
        "train": "ran",
        "compare": "ran",
        "register": "ran",
    }, output
    train = json.loads((run_dir / "train" / "stage.json").read_text())["outputs"]
    assert train["job_id"] == job_id and train["resumed_from_step"] == saved[-1]
    assert f"resumed from step {saved[-1]}" in output

    # One job, continued: same id, steps after the checkpoint once, no restart from step 1.
    assert [j.id for j in store.list_jobs()] == [job_id]
    job = store.get(job_id)
    assert job.status == "succeeded" and job.result["metrics"]["steps"] == MAX_STEPS
    events = store.events(job_id, limit=1000)
    at = next(i for i, e in enumerate(events) if f"resumed at step {saved[-1]}" in e["message"])
    after = [e["data"]["step"] for e in events[at:] if e["type"] == "metrics"]
    assert after and after == sorted(set(after)) and after[0] > saved[-1], after
    logged = [e["data"]["step"] for e in events if e["type"] == "metrics"]
    assert all(logged.count(step) == 1 for step in logged if step <= saved[-1]), logged
    assert after[-1] == MAX_STEPS and killed_at < MAX_STEPS
    curve = json.loads((run_dir / "train" / "adapter" / "curves.json").read_text())["points"]
    assert [p["step"] for p in curve] == list(range(1, MAX_STEPS + 1))

    # Later stages ran once: one registered model; resuming a finished run reuses everything.
    from tunewise.registry import Registry

    assert len(Registry().list_models()) == 1
    again = CliRunner().invoke(app, ["run", str(config), "--no-progress", "--resume"])
    assert again.exit_code == 10, again.output
    status = {
        s["name"]: s["status"] for s in json.loads((run_dir / "summary.json").read_text())["stages"]
    }
    assert set(status.values()) == {"cached"}
    assert len(Registry().list_models()) == 1 and len(store.list_jobs()) == 1


def test_resume_needs_a_run_and_one_run_per_folder(home: Path, tiny_model: Path) -> None:
    from tunewise.pipeline.run import _exclusive

    config = _config(home, tiny_model)
    result = CliRunner().invoke(app, ["run", str(config), "--resume"])
    assert result.exit_code != 0 and "no run at" in result.output
    held = pytest.raises(TunewiseError, match=f"in use by .*pid {os.getpid()}")
    with _exclusive(home), held, _exclusive(home):
        pass


def test_the_train_stage_continues_only_a_job_it_can(home: Path, tmp_path: Path) -> None:
    """A recorded job without a checkpoint, or one another store does not know, starts over."""
    from tunewise.pipeline.steps import JOB_FILE, _continue
    from tunewise.train.backend import LocalBackend

    backend = LocalBackend()
    folder = tmp_path / "train"
    folder.mkdir()
    assert _continue(backend, folder, folder / "adapter", False) == (None, None)
    (folder / JOB_FILE).write_text(json.dumps({"job_id": "ftjob-unknown"}))
    assert _continue(backend, folder, folder / "adapter", False) == (None, None)
    job = backend.store.create(method="lora", base="b", data="d", out="o", config={})
    (folder / JOB_FILE).write_text(json.dumps({"job_id": job.id}))
    assert _continue(backend, folder, folder / "adapter", False) == (None, None)
    backend.store.set_status(job.id, "succeeded")
    assert _continue(backend, folder, folder / "adapter", False) == (None, None)  # no adapter
    (folder / "adapter").mkdir()
    (folder / "adapter" / "manifest.json").write_text("{}")
    found, step = _continue(backend, folder, folder / "adapter", False)
    assert found is not None and found.id == job.id and step is None
