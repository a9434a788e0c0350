"""`tunewise tune` on the bundled example with a tiny model, then `tunewise run` with run.tune reusing
the search and training nothing more."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tunewise.cli import app

pytest.importorskip("optuna")
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "support-intent"


def test_tune_writes_the_best_config_and_run_reuses_the_search(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNEWISE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLE / "data", tmp_path / "data")
    cfg = yaml.safe_load((EXAMPLE / "tunewise.yaml").read_text())
    cfg["data"]["pii"]["engine"] = "regex"
    cfg["train"] = {"base": str(tiny_model), "epochs": 1, "batch_size": 16, "max_length": 192,
                    "rehearsal": {"enabled": False}}  # fmt: skip
    cfg["eval"] = {"max_new_tokens": 4, "forgetting_suite": None, "bootstrap_samples": 200}
    cfg["run"] = {"runs_dir": str(tmp_path / "runs"), "few_shot": 0, "target_score": 0.99}
    cfg["tune"] = {
        "trials": 2,
        "space": {"epochs": [1, 1], "lora_r": [4], "rehearsal_share": [0, 0]},
    }
    config = tmp_path / "tunewise.yaml"
    config.write_text("# the user's own comment\n" + yaml.safe_dump(cfg))
    before = config.read_text()

    # --budget as in the file: the run below must find the same search (same key).
    result = CliRunner().invoke(app, ["tune", str(config), "--budget", "20m", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "best: trial" in result.output and "tunewise.tuned.yaml" in result.output
    assert config.read_text() == before
    tuned = yaml.safe_load((tmp_path / "tunewise.tuned.yaml").read_text())
    trials = json.loads((tmp_path / "runs/support-intent/tune/trials.json").read_text())
    best = trials["best"]
    assert tuned["train"]["learning_rate"] == pytest.approx(best["params"]["learning_rate"])
    assert "# the user's own comment" in (tmp_path / "tunewise.tuned.yaml").read_text()
    assert len(trials["trials"]) == 2

    # The same search is a stage of `tunewise run` with run.tune: reused, and its best adapter is
    # the one compared (no third training job).
    result = CliRunner().invoke(
        app, ["run", str(config), "--set", "run.tune=true", "--no-progress"]
    )
    assert result.exit_code in (0, 10), result.output
    stages = {s["name"]: s for s in json.loads(
        (tmp_path / "runs/support-intent/summary.json").read_text())["stages"]}  # fmt: skip
    assert stages["tune"]["status"] == "cached" and stages["train"]["status"] == "ran"
    assert stages["train"]["outputs"]["job_id"] == best["job_id"]
    assert stages["train"]["outputs"]["from_trial"] == best["number"]
    assert (tmp_path / "runs/support-intent/train/adapter/adapter_model.safetensors").is_file()
    from tunewise.train.jobs import JobStore

    assert len(JobStore().list_jobs(limit=10)) == 2
