"""Adapters refuse a different or corrupted base; the CLI end to end on a small dataset folder."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.errors import ModelError

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    """One adapter trained through the CLI, shared by the tests of this module."""
    import os

    from train_rows import write_dataset

    root = tmp_path_factory.mktemp("cli")
    before = os.environ.get("TUNEWISE_HOME")
    os.environ["TUNEWISE_HOME"] = str(root / "state")
    ds = write_dataset(root / "ds")
    res = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(ds),
            "--base",
            str(tiny_model),
            "--out",
            str(root / "adapter"),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--lr",
            "0.01",
            "--no-progress",
        ],
    )
    if before is None:
        os.environ.pop("TUNEWISE_HOME", None)
    else:
        os.environ["TUNEWISE_HOME"] = before
    assert res.exit_code == 0, res.output
    return root, res.output


def test_cli_train_writes_adapter_and_job(trained, monkeypatch):
    root, output = trained
    monkeypatch.setenv("TUNEWISE_HOME", str(root / "state"))
    adapter = root / "adapter"
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "manifest.json",
        "curves.json",
        "loss.png",
    ):
        assert (adapter / name).is_file(), name
    job_id = json.loads((adapter / "manifest.json").read_text())["job_id"]
    assert job_id in output
    runner = CliRunner()
    listing = runner.invoke(app, ["jobs", "list", "--json"])
    assert listing.exit_code == 0 and job_id in listing.output
    shown = json.loads(runner.invoke(app, ["jobs", "show", job_id]).output)
    assert shown["status"] == "succeeded" and shown["checkpoints"]
    events = json.loads(runner.invoke(app, ["jobs", "events", job_id, "--json"]).output)["data"]
    assert {e["object"] for e in events} == {"fine_tuning.job.event"}
    assert any(e["type"] == "metrics" and "train_loss" in e["data"] for e in events)
    cancel = runner.invoke(app, ["jobs", "cancel", job_id])
    assert cancel.exit_code != 0 and "already succeeded" in cancel.output


def test_plain_peft_loads_the_adapter(trained, tiny_model):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model), trained[0] / "adapter"
    )
    assert any("lora_A" in n for n, _ in model.named_parameters())


def test_mismatched_or_corrupted_base_is_refused(trained, tiny_model, tmp_path):
    from tunewise.models import make_tiny_model
    from tunewise.train.adapters import load_for_inference

    adapter = trained[0] / "adapter"
    model, _tok = load_for_inference(tiny_model, adapter)
    assert model is not None
    other = make_tiny_model(tmp_path / "other", seed=1)
    with pytest.raises(ModelError, match="different or modified"):
        load_for_inference(other, adapter)
    corrupted = tmp_path / "corrupted"
    shutil.copytree(tiny_model, corrupted)
    weights = corrupted / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="hash"):
        load_for_inference(corrupted, adapter)
    res = CliRunner().invoke(
        app, ["merge", str(adapter), "--out", str(tmp_path / "m"), "--base", str(other)]
    )
    assert res.exit_code == 5 and "error:" in res.output


def test_cli_merge_and_generate(trained, tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        app, ["merge", str(trained[0] / "adapter"), "--out", str(tmp_path / "merged")]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "merged" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "merged" / "manifest.json").read_text())["kind"] == "full"
    res = runner.invoke(
        app,
        [
            "generate",
            "--base",
            str(tmp_path / "merged"),
            "-p",
            "What is 1 plus 2?",
            "--max-new-tokens",
            "3",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "tokens_out" in res.output


def test_cli_reports_bad_options(tmp_path):
    res = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--lora-r", "0"])
    assert res.exit_code == 2 and "train.lora.r" in res.output


def test_qlora_on_cpu_stops_at_its_guard(tiny_model, dataset):
    """A valid dataset and base, so the run gets as far as building the 4-bit model and stops there."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine may run qlora for real")
    args = ["train", "--data", str(dataset), "--base", str(tiny_model), "--method", "qlora"]
    res = CliRunner().invoke(app, [*args, "--no-progress"])
    assert res.exit_code == ModelError.exit_code, res.output
    assert "method qlora needs a CUDA GPU" in res.output and "--method lora" in res.output


def test_packing_flag_overrides_the_config_file(tmp_path):
    from tunewise.config import load_config

    cfg = tmp_path / "tunewise.yaml"
    cfg.write_text("project: p\ntrain:\n  packing: false\n")
    assert load_config(cfg).train.packing is False
    assert load_config(cfg, {"train.packing": True}).train.packing is True
    assert load_config(None, {"train.packing": False}).train.packing is False
