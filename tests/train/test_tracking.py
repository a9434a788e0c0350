"""Experiment tracking of local jobs: MLflow against a real local file store, W&B offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunewise.errors import TunewiseError
from tunewise.train.backend import LocalBackend, TrainRequest
from tunewise.train.config import TrainConfig
from tunewise.train.tracking import flat_params, wanted

pytest.importorskip("torch")


def _cfg(tiny_model: Path, **kw) -> TrainConfig:
    base = {"base": str(tiny_model), "epochs": 2, "batch_size": 4, "learning_rate": 1e-2,
            "lora": {"r": 4, "alpha": 8}, "rehearsal": {"enabled": False}}  # fmt: skip
    return TrainConfig.model_validate({**base, **kw})


def test_auto_follows_the_environment_like_transformers():
    cfg = TrainConfig()
    assert wanted(cfg, {}) == []
    assert wanted(cfg, {"MLFLOW_TRACKING_URI": "file:/x"}) == ["mlflow"]
    assert wanted(cfg, {"WANDB_PROJECT": "p"}) == ["wandb"]
    assert wanted(cfg, {"WANDB_PROJECT": "p", "WANDB_MODE": "disabled"}) == []
    assert wanted(cfg, {"WANDB_PROJECT": "p", "WANDB_DISABLED": "true"}) == []
    both = {"MLFLOW_TRACKING_URI": "file:/x", "WANDB_PROJECT": "p"}
    assert wanted(cfg, both) == ["mlflow", "wandb"]
    assert wanted(TrainConfig(tracking="none"), both) == []
    assert wanted(TrainConfig(tracking="mlflow"), {}) == ["mlflow"]
    params = flat_params(TrainConfig())
    assert params["lora.r"] == "16" and params["rehearsal.share"] == "0.25"
    assert not any(k.startswith(("bedrock.", "openai.")) for k in params)


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    pytest.importorskip("mlflow")
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks file stores to opt in
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "support-intent")
    return uri


def test_mlflow_gets_params_every_step_and_the_adapter(tiny_model, dataset, tmp_path, mlflow_store):
    from mlflow import MlflowClient

    job = LocalBackend().submit(
        TrainRequest(dataset, _cfg(tiny_model), tmp_path / "out", progress=False)
    )
    assert job.status == "succeeded"
    client = MlflowClient(mlflow_store)
    exp = client.get_experiment_by_name("support-intent")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == job.id
    assert run.data.params["learning_rate"] == "0.01" and run.data.params["lora.r"] == "4"
    steps = json.loads((tmp_path / "out" / "manifest.json").read_text())["metrics"]["steps"]
    train = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in train] == list(range(1, steps + 1))  # every optimizer step
    assert len(client.get_metric_history(run.info.run_id, "valid_loss")) == 2  # once per epoch
    assert client.get_metric_history(run.info.run_id, "learning_rate")[0].value > 0
    files = {f.path for f in client.list_artifacts(run.info.run_id, "adapter")}
    assert {
        "adapter/adapter_model.safetensors",
        "adapter/manifest.json",
        "adapter/loss.png",
    } <= files


def test_a_failed_job_closes_its_mlflow_run_as_failed(tiny_model, tmp_path, mlflow_store):
    from mlflow import MlflowClient

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.jsonl").write_text(
        json.dumps({"messages": [{"role": "user", "content": "hi"},
                                 {"role": "assistant", "content": "x" * 50, "weight": 0}]}) + "\n"
    )  # fmt: skip
    with pytest.raises(TunewiseError, match="no trainable rows"):
        LocalBackend().submit(TrainRequest(bad, _cfg(tiny_model), tmp_path / "o", progress=False))
    client = MlflowClient(mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name("support-intent").experiment_id])
    assert run.info.status == "FAILED"
    assert client.list_artifacts(run.info.run_id) == []


def test_wandb_offline_run_has_the_steps_and_the_adapter(
    tiny_model, dataset, tmp_path, monkeypatch
):
    pytest.importorskip("wandb", reason="wandb not installed (pip install wandb)")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_PROJECT", "support-intent")
    monkeypatch.setenv("WANDB_SILENT", "true")
    job = LocalBackend().submit(
        TrainRequest(dataset, _cfg(tiny_model, epochs=1), tmp_path / "out", progress=False)
    )
    assert job.status == "succeeded"
    (run_dir,) = (tmp_path / "wandb" / "wandb").glob(f"offline-run-*-{job.id}")
    records = (run_dir / f"run-{job.id}.wandb").read_bytes()
    assert b"train_loss" in records and b"adapter_model.safetensors" in records
    # The run's config is in its records (files/config.yaml is written by the service later, if at
    # all, in offline mode).
    assert b"lora.r" in records and b"learning_rate" in records
