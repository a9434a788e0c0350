"""A job survives its worker and its server: `tunewise worker` and its training process are
killed (-9, as in a power cut) and the server restarts; the next worker gives the job back to the
queue and continues it from its checkpoint; every step after the checkpoint is trained once."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ft_helpers import chat_rows
from ft_server import TRAIN, finished, ft_server, wait_for, worker

pytest.importorskip("openai")
psutil = pytest.importorskip("psutil")


def test_killed_worker_job_continues_from_checkpoint(tmp_path: Path, tiny_model: Path) -> None:
    train = {**TRAIN, "checkpoint_steps": 5}
    cfg = {
        "serve": {
            "fine_tuning": {
                "dir": str(tmp_path / "ft"),
                "bases": {"tiny": str(tiny_model)},
                "train": train,
                "poll_s": 0.05,
                "lease_s": 3,
            }
        }
    }
    (tmp_path / "tunewise.yaml").write_text(yaml.safe_dump(cfg))
    with ft_server(tmp_path, tiny_model, train=train, lease_s=3) as srv:
        client = srv.sdk()
        rows = "".join(json.dumps(r) + "\n" for r in chat_rows(48)).encode()
        file_id = client.files.create(file=("t.jsonl", io.BytesIO(rows)), purpose="fine-tune").id
        job = client.fine_tuning.jobs.create(
            model="tiny", training_file=file_id, hyperparameters={"n_epochs": 2, "batch_size": 1}
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "tunewise", "worker", "--config", "tunewise.yaml",
             "--db", srv.db_url],
            cwd=tmp_path, env={**os.environ}, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            wait_for(client, job.id, lambda j: _checkpointed(client, j.id, 10), timeout=300)
        finally:
            family = psutil.Process(proc.pid).children(recursive=True)
            runners = [
                p
                for p in psutil.process_iter(["cmdline"])
                if job.id in " ".join(p.info["cmdline"] or [])
            ]
            for p in [proc, *family, *runners]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
            proc.wait(30)
        step = max(c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id))
    # The server restarts too: everything the job needs is in the store and the folder.
    with ft_server(tmp_path, tiny_model, train=train, lease_s=3) as srv:
        client = srv.sdk()
        assert client.fine_tuning.jobs.retrieve(job.id).status == "running"  # nobody said otherwise
        time.sleep(0.2)
        with worker(srv.ft):
            done = wait_for(client, job.id, finished, timeout=300)
        said = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    assert done.status == "succeeded", done.error
    gone = [m for m in said if "is gone; job requeued" in m]
    assert gone and gone[0].endswith(f"continues from its checkpoint at step {step}")
    assert f"Fine-tuning job resumed from its checkpoint at step {step}" in said
    assert any(m.endswith(f"resumed at step {step}") for m in said)


def _checkpointed(client, job_id: str, step: int) -> bool:
    return any(c.step_number >= step for c in client.fine_tuning.jobs.checkpoints.list(job_id))
