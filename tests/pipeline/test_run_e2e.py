"""`tunewise run` end to end on the bundled example data with a tiny model: every stage's artifacts,
then the caching (a re-run reuses everything; a train change re-runs only what depends on it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tunewise.cli import app

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "support-intent"


def _config(tmp_path: Path, tiny_model: Path, **train: object) -> Path:
    shutil.copytree(EXAMPLE / "data", tmp_path / "data", dirs_exist_ok=True)
    cfg = yaml.safe_load((EXAMPLE / "tunewise.yaml").read_text())
    cfg["data"]["pii"]["engine"] = "regex"  # keep the test fast; Presidio is tested in tests/data
    cfg["train"] = {
        "base": str(tiny_model),
        "epochs": 1,
        "batch_size": 16,
        "max_length": 256,
        **train,
    }
    cfg["eval"] = {"max_new_tokens": 8, "forgetting_suite": None, "bootstrap_samples": 200}
    cfg["run"] = {"runs_dir": str(tmp_path / "runs"), "few_shot": 1, "target_score": 0.99}
    path = tmp_path / "tunewise.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUNEWISE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(config: Path, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", str(config), "--no-progress", *options])
    return result.exit_code, result.output


def test_run_writes_every_stage_and_reuses_them(home: Path, tiny_model: Path) -> None:
    config = _config(home, tiny_model)
    code, output = _run(config)
    # A random tiny model cannot lift accuracy: the gate must block (exit 10), and say so. The
    # embedding classifier (about 78% exact match here, below the 99% target) beats it plainly.
    assert code == 10, output
    assert "BLOCKED" in output and "does not beat 'embedding classifier'" in " ".join(
        output.split()
    )
    run_dir = home / "runs" / "support-intent"
    for rel in (
        "data/dataset/manifest.json",
        "data/dataset/train.jsonl",
        "data/dataset/rejects.jsonl",
        "decide/decision.json",
        "cost/cost.json",
        "baseline/zero-shot/eval.json",
        "baseline/few-shot/eval.json",
        "baseline/classifier/eval.json",
        "baseline/classifier/model/manifest.json",
        "baseline/classifier/model/weights.npz",
        "train/adapter/adapter_model.safetensors",
        "train/adapter/manifest.json",
        "compare/report.json",
        "compare/report.md",
        "compare/report.html",
        "register/registered.json",
        "register/classifier/report.json",
        "summary.json",
        "summary.html",
    ):
        assert (run_dir / rel).is_file(), rel
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [s["status"] for s in summary["stages"]] == ["ran"] * 8
    report = json.loads((run_dir / "compare" / "report.json").read_text())
    assert report["gate"]["decision"] == "block"
    assert {"primary_lift", "beats_alternative"} <= set(report["gate"]["blocked_by"])
    assert report["alternatives"]["best"] == "embedding classifier"
    registered = json.loads((run_dir / "register" / "registered.json").read_text())
    assert registered["instead"]["model"].startswith("support-intent-classifier-")
    manifest = json.loads((run_dir / "data" / "dataset" / "manifest.json").read_text())
    assert manifest["counts"]["read"] == manifest["counts"]["kept"] + manifest["counts"]["rejected"]

    code, output = _run(config)
    assert code == 10
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [s["status"] for s in summary["stages"]] == ["cached"] * 8

    # A train change (here an option on top of the file) re-runs train and what depends on it,
    # nothing upstream.
    code, output = _run(config, "--lr", "5e-4")
    assert code == 10, output
    summary = json.loads((run_dir / "summary.json").read_text())
    status = {s["name"]: s["status"] for s in summary["stages"]}
    assert status == {
        "data": "cached",
        "decide": "cached",
        "cost": "cached",
        "baseline": "cached",
        "cheapest": "cached",
        "train": "ran",
        "compare": "ran",
        "register": "ran",
    }


def test_run_stops_before_training_when_prompting_is_enough(home: Path, tiny_model: Path) -> None:
    config = _config(home, tiny_model)
    cfg = yaml.safe_load(config.read_text())
    cfg["run"]["target_score"] = 0.0001
    # `refusal` scores 1 when the model refuses exactly when the reference does: a random tiny
    # model never refuses, nor do most references, so the prompt-only variant clears this target.
    cfg["eval"]["primary_metric"] = "refusal"
    cfg["eval"]["scorers"] = [{"name": "refusal"}, {"name": "exact_match"}]
    cfg["run"]["classifier"] = False  # the prompt alone is what this test is about
    config.write_text(yaml.safe_dump(cfg))
    code, output = _run(config)
    assert code == 0, output
    assert "fine-tuning is not needed" in output
    summary = json.loads((home / "runs" / "support-intent" / "summary.json").read_text())
    status = {s["name"]: s["status"] for s in summary["stages"]}
    assert status["train"] == "skipped" and status["compare"] == "skipped"


def test_run_stops_when_the_classifier_reaches_the_target_and_registers_it(
    home: Path, tiny_model: Path
) -> None:
    from tunewise.registry import Registry

    config = _config(home, tiny_model)
    cfg = yaml.safe_load(config.read_text())
    cfg["run"]["target_score"] = 0.7  # the classifier reaches about 78% exact match here
    config.write_text(yaml.safe_dump(cfg))
    code, output = _run(config)
    assert code == 0, output
    assert (
        "'embedding classifier' already scores" in output and "fine-tuning is not needed" in output
    )
    run_dir = home / "runs" / "support-intent"
    summary = json.loads((run_dir / "summary.json").read_text())
    status = {s["name"]: s["status"] for s in summary["stages"]}
    assert status["cheapest"] == "ran" and status["train"] == "skipped"
    cheapest = next(s for s in summary["stages"] if s["name"] == "cheapest")["outputs"]
    assert cheapest["name"] == "classifier" and cheapest["score"] >= 0.7
    assert cheapest["registered"]["gate"] == "accept"
    assert (run_dir / "cheapest" / "report.html").is_file()
    models = {m["model"]: m for m in Registry().list_models()}
    model = models[cheapest["registered"]["model"]]
    assert model["kind"] == "classifier" and model["adapter_path"].endswith("classifier/model")
    flat = " ".join(output.split())
    assert f"registered as {model['model']}" in flat
    # The commands that ship it, in order: promote and serve (first release), or roll it out.
    promote = (
        f"tunewise registry promote {model['model']} --feature support-intent --alias production"
    )
    assert f"next, serve it (first release): {promote} && tunewise serve -c {config}" in flat
    rollout = f"tunewise rollout start {model['model']} --feature support-intent -c {config}"
    assert f"next, roll it out (replacing a production model): {rollout}" in flat
    assert summary["details"]["next"][1].endswith(rollout)

    # --train-anyway trains regardless; the tiny fine-tune then loses to the classifier.
    result = CliRunner().invoke(app, ["run", str(config), "--no-progress", "--train-anyway"])
    assert result.exit_code == 10, result.output
    status = {
        s["name"]: s["status"] for s in json.loads((run_dir / "summary.json").read_text())["stages"]
    }
    assert status["train"] == "ran" and status["cheapest"] == "cached"
    flat = " ".join(result.output.split())
    assert "does not beat 'embedding classifier'" in flat
    assert f"next, serve it (first release): {promote}" in flat  # the classifier, not the fine-tune
    assert len(Registry().list_models()) == 2  # the fine-tune, and the classifier once


def test_failed_stage_names_itself_and_the_fix(home: Path, tiny_model: Path) -> None:
    config = _config(home, tiny_model)
    (home / "data" / "tickets.jsonl").write_text('{"messages": []}\n')  # nothing usable
    code, output = _run(config)
    assert code != 0
    assert "stage 'data' failed" in output and "--resume" in output


def test_a_local_base_changed_in_place_changes_the_eval_and_train_keys(tmp_path: Path) -> None:
    from tunewise.models import make_tiny_model
    from tunewise.pipeline.run import _base_identity

    folder = make_tiny_model(tmp_path / "base", seed=0)
    before = _base_identity(str(folder))
    assert "@sha256:" in before and _base_identity(str(folder)) == before
    make_tiny_model(folder, seed=1)  # same path, new weights
    assert _base_identity(str(folder)) != before
    assert _base_identity("some-org/some-model") == "some-org/some-model"  # hub ids: not resolved


def test_a_hosted_backend_is_refused_before_any_stage(home: Path, tmp_path: Path) -> None:
    config = _config(home, tmp_path / "no-model-needed", backend="bedrock")
    code, output = _run(config)
    assert code == 2
    assert "train.backend: tunewise run trains locally, not on 'bedrock'" in output
    assert not list((tmp_path / "runs").rglob("*.jsonl"))  # the data stage never ran
