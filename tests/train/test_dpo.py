"""DPO on preference rows through TRL, inside the same job lifecycle."""

from __future__ import annotations

import json

import pytest

from tunewise.train.backend import LocalBackend, TrainRequest
from tunewise.train.config import TrainConfig

pytest.importorskip("trl")


def test_dpo_job_writes_a_peft_adapter(tiny_model, tmp_path):
    ds = tmp_path / "ds"
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
