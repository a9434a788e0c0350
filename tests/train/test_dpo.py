"""DPO on preference rows through TRL, inside the same job lifecycle."""

from __future__ import annotations

import json

import pytest

from tunewise.train.backend import LocalBackend, TrainRequest
from tunewise.train.config import TrainConfig

pytest.importorskip("trl")


def _preference_dataset(ds):
    """A dataset folder with 8 DPO rows (train.jsonl only)."""
    ds.mkdir()
    rows = [
        {
            "id": f"p{i}",
            "input": {"messages": [{"role": "user", "content": f"Say yes {i}"}]},
            "preferred_output": [{"role": "assistant", "content": "yes"}],
            "non_preferred_output": [{"role": "assistant", "content": "no way"}],
        }
        for i in range(8)
    ]
    (ds / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ds


def test_dpo_job_writes_a_peft_adapter(tiny_model, tmp_path):
    ds = _preference_dataset(tmp_path / "ds")
    cfg = TrainConfig(
        base=str(tiny_model), method="dpo", max_steps=2, batch_size=4, lora={"r": 4, "alpha": 8}
    )
    job = LocalBackend().submit(TrainRequest(ds, cfg, tmp_path / "out", progress=False))
    assert job.status == "succeeded", job.error
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["config"]["method"] == "dpo" and manifest["metrics"]["steps"] == 2


def test_sft_method_refuses_preference_rows(tiny_model, tmp_path):
    from tunewise.errors import DataError

    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "train.jsonl").write_text(
        json.dumps({"input": {"messages": []}, "preferred_output": [], "non_preferred_output": []})
        + "\n"
    )
    with pytest.raises(DataError, match="line 1: method lora needs chat rows"):
        LocalBackend().submit(
            TrainRequest(ds, TrainConfig(base=str(tiny_model)), tmp_path / "out", progress=False)
        )


def test_dpo_resume_continues_from_the_last_checkpoint(tiny_model, tmp_path, monkeypatch):
    from tunewise.train.jobs import JobStore

    ds = _preference_dataset(tmp_path / "ds")
    cfg = TrainConfig(
        base=str(tiny_model),
        method="dpo",
        max_steps=4,
        batch_size=2,
        checkpoint_steps=1,
        keep_checkpoints=2,
        lora={"r": 4, "alpha": 8},
    )
    real = JobStore.add_checkpoint
    calls = {"n": 0}

    def crash_after_second_checkpoint(self, *a, **k):
        ck = real(self, *a, **k)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process dies right after a checkpoint
        return ck

    monkeypatch.setattr(JobStore, "add_checkpoint", crash_after_second_checkpoint)
    backend = LocalBackend()
    with pytest.raises(KeyboardInterrupt):
        backend.submit(TrainRequest(ds, cfg, tmp_path / "out", progress=False))
    job = JobStore().list_jobs(limit=1)[0]
    assert job.status == "failed"
    assert [c.step for c in JobStore().checkpoints(job.id)] == [1, 2]
    monkeypatch.setattr(JobStore, "add_checkpoint", real)

    done = backend.resume(job.id, progress=False)
    assert done.status == "succeeded", done.error
    assert done.result["metrics"]["steps"] == 4
    curve = json.loads((tmp_path / "out" / "curves.json").read_text())["points"]
    assert [p["step"] for p in curve] == [1, 2, 3, 4]  # the steps before the crash are kept
    assert [c.step for c in JobStore().checkpoints(job.id)] == [3, 4]  # keep_checkpoints=2
    events = [e["message"] for e in backend.events(job.id, limit=1000)]
    saved = [m.split(":")[0] for m in events if m.startswith("checkpoint at step")]
    # step 1 before the crash (which hit before step 2's event), 3 and 4 after: nothing retrained
    assert sorted(saved) == ["checkpoint at step 1", "checkpoint at step 3", "checkpoint at step 4"]


def test_dpo_resume_without_checkpoint_is_a_clear_error(tiny_model, tmp_path):
    from tunewise.errors import JobError
    from tunewise.train.dpo import _last_checkpoint
    from tunewise.train.trainer import RunContext

    with pytest.raises(JobError, match="no checkpoint to resume from"):
        _last_checkpoint(RunContext("ftjob-x", None), tmp_path / "none")
