"""The local SFT loop on the tiny model: it learns, it resumes, it cancels, it writes a PEFT folder."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tunewise.train import checkpoints as C
from tunewise.train import trainer as T
from tunewise.train.backend import LocalBackend, TrainRequest
from tunewise.train.config import TrainConfig
from tunewise.train.jobs import JobStore

pytest.importorskip("torch")


def _cfg(tiny_model: Path, **kw) -> TrainConfig:
    base = {
        "base": str(tiny_model),
        "epochs": 2,
        "batch_size": 4,
        "learning_rate": 1e-2,
        "warmup_ratio": 0.0,
        "lora": {"r": 8, "alpha": 16},
        "early_stopping_patience": None,
    }
    return TrainConfig.model_validate({**base, **kw})


def test_loss_decreases_and_adapter_changes(tiny_model, dataset, tmp_path):
    from safetensors.torch import load_file

    job = LocalBackend().submit(
        TrainRequest(dataset, _cfg(tiny_model, epochs=3), tmp_path / "out", progress=False)
    )
    assert job.status == "succeeded"
    out = tmp_path / "out"
    history = __import__("json").loads((out / "curves.json").read_text())["points"]
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    assert last < first - 0.3, (first, last)
    assert history[-1]["valid_loss"] < history[0].get("valid_loss", first)
    weights = load_file(out / "adapter_model.safetensors")
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and all(k.startswith("base_model.model.") for k in weights)
    assert any(float(v.abs().max()) > 0 for v in lora_b)  # lora_B starts at zero
    assert (out / "loss.png").stat().st_size > 1000
    manifest = __import__("json").loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "adapter" and manifest["job_id"] == job.id
    assert manifest["tokens_trained"] > 0 and manifest["dataset"]["manifest_sha256"]
    assert manifest["config"]["lora"]["r"] == 8


def test_resume_continues_from_checkpoint_step(tiny_model, tmp_path, monkeypatch):
    from train_rows import write_dataset

    dataset = write_dataset(tmp_path / "ds16", n_train=16, n_val=4)
    cfg = _cfg(tiny_model, epochs=2, checkpoint_steps=2)
    ref = LocalBackend().submit(TrainRequest(dataset, cfg, tmp_path / "ref", progress=False))
    total = ref.result["metrics"]["steps"]

    real = C.save
    calls = {"n": 0}

    def crash_after_second_checkpoint(*a, **k):
        real(*a, **k)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process dies right after writing a checkpoint

    monkeypatch.setattr(C, "save", crash_after_second_checkpoint)
    backend = LocalBackend()
    with pytest.raises(KeyboardInterrupt):
        backend.submit(TrainRequest(dataset, cfg, tmp_path / "out", progress=False))
    job = JobStore().list_jobs(limit=1)[0]
    assert job.status == "failed"
    assert [c.step for c in JobStore().checkpoints(job.id)] == [2, 4]
    monkeypatch.setattr(C, "save", real)

    done = backend.resume(job.id, progress=False)
    assert done.status == "succeeded"
    assert done.result["metrics"]["steps"] == total
    events = [e["message"] for e in backend.events(job.id, limit=1000)]
    assert any("resumed at step 4" in m for m in events)
    # same data order, optimizer and RNG: the resumed run ends where the uninterrupted one did
    from safetensors.torch import load_file

    a, b = (
        load_file(tmp_path / "ref" / "adapter_model.safetensors"),
        load_file(tmp_path / "out" / "adapter_model.safetensors"),
    )
    import torch

    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_cancel_from_another_thread_leaves_status_cancelled(tiny_model, dataset, tmp_path):
    store = JobStore()
    cfg = _cfg(tiny_model, epochs=25)
    result = {}

    def run():
        result["job"] = LocalBackend(store).submit(
            TrainRequest(dataset, cfg, tmp_path / "out", progress=False)
        )

    th = threading.Thread(target=run)
    th.start()
    deadline = time.time() + 60
    job_id = None
    while time.time() < deadline:
        jobs = store.list_jobs(limit=1)
        if (
            jobs
            and jobs[0].status == "running"
            and any(e["type"] == "metrics" for e in store.events(jobs[0].id))
        ):
            job_id = jobs[0].id
            break
        time.sleep(0.1)
    assert job_id, "training never started"
    assert (
        JobStore().request_cancel(job_id).cancel_requested
    )  # a separate connection, like another process
    th.join(60)
    assert result["job"].status == "cancelled"
    assert store.get(job_id).status == "cancelled"
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()


def test_early_stopping_after_patience_rising_evals():
    class M:
        def named_parameters(self):
            return []

    cfg = TrainConfig(early_stopping_patience=2)
    state, ctx = T.TrainState(), T.RunContext(None, None)
    reasons = [T._after_eval(ctx, M(), state, {}, v, cfg) for v in (1.0, 0.8, 0.9, 0.85, 0.95)]
    assert reasons == [None, None, None, "early_stopping", "early_stopping"]
    assert state.best_valid == 0.8


def test_a_job_whose_process_died_is_failed_with_how_to_resume(tmp_path):
    import subprocess
    import sys

    from tunewise.errors import JobError

    store = JobStore()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job = store.create(method="lora", base="b", data="d", out=str(tmp_path), config={})
    store.set_status(job.id, "running", pid=dead.pid)
    seen = store.list_jobs()[0]
    assert seen.status == "failed" and seen.error["code"] == "process_gone"
    assert f"tunewise train --resume {job.id}" in seen.error["message"]
    assert any("is gone" in e["message"] for e in store.events(job.id))

    alive = store.create(method="lora", base="b", data="d", out=str(tmp_path), config={})
    store.set_status(alive.id, "running", pid=__import__("os").getpid())
    assert store.get(alive.id).status == "running"  # this process is alive
    with pytest.raises(JobError, match="cancel it first"):
        LocalBackend(store).resume(alive.id, progress=False)
