"""Config options are declared once (cli/options.py): each flag names one config key, every command
validates its options with the file, and a bad one is exit code 2 naming the key."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from tunewise.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]

# Flags naming a stage's own copy of a setting: the key is in the command's stage.
PER_STAGE = {"--epochs", "--seed", "--batch-size", "--golden"}
STAGE = {"data": "data", "train": "train", "run": "train", "eval": "eval", "compare": "eval"}
STAGE["registry"] = "registry"
STAGE["tune"] = "train"  # tunewise tune: --batch-size is the trials' training batch


def _config_flags() -> list[tuple[str, str, str]]:
    """(command, flag, config key) for every config option, read from the built CLI's help."""
    found: list[tuple[str, str, str]] = []

    def walk(cmd: object, name: str) -> None:
        for param in getattr(cmd, "params", []):
            match = re.search(r"Config: `([\w.]+)`", getattr(param, "help", None) or "")
            if match:
                found.extend((name, opt, match.group(1)) for opt in param.opts)
        for sub_name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{name} {sub_name}".strip())

    walk(typer.main.get_command(app), "")
    return found


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_each_flag_names_one_key_everywhere() -> None:
    flags = _config_flags()
    commands = {c for c, _, _ in flags}
    assert {"train", "run", "eval", "compare", "data check", "data prepare"} <= commands
    assert {"data cost", "registry", "registry promote", "registry stale", "decide"} <= commands
    lr = {(c, p) for c, f, p in flags if f == "--lr"}
    assert lr == {("train", "train.learning_rate"), ("run", "train.learning_rate")}
    by_flag: dict[str, set[str]] = {}
    for command, flag, path in flags:
        if flag in PER_STAGE:
            assert path.split(".")[0] == STAGE[command.split()[0]], (command, flag, path)
        else:
            by_flag.setdefault(flag, set()).add(path)
    assert {f: p for f, p in by_flag.items() if len(p) > 1} == {}


def test_eval_rejects_a_bad_budget_naming_its_key(tmp_path: Path) -> None:
    code, out = _invoke("eval", "--golden", str(tmp_path / "g.jsonl"), "--max-new-tokens", "-5")
    assert code == 2 and "eval.max_new_tokens: must be > 0 (set to -5)" in out, out
    code, out = _invoke("eval", "--max-new-tokens", "0", "--batch-size", "0", "--few-shot", "2")
    assert code == 2 and "2 problem(s)" in out and "eval.batch_size" in out, out
    code, out = _invoke("eval", "--golden", "g.jsonl", "--few-shot", "99")
    assert code == 2 and "prompt.few_shot: must be <= 32" in out, out


def test_compare_validates_eval_and_gate_options(tmp_path: Path) -> None:
    code, out = _invoke(
        "compare", "--candidate-adapter", str(tmp_path), "--min-lift", "2", "--max-new-tokens", "0"
    )
    assert code == 2 and "gate.min_lift: must be <= 1" in out and "eval.max_new_tokens" in out, out


def test_train_reports_every_bad_option_with_its_key(tmp_path: Path) -> None:
    code, out = _invoke("train", "--data", str(tmp_path), "--lr", "-1", "--lora-r", "0")
    assert code == 2 and "train.learning_rate: must be > 0" in out and "train.lora.r" in out, out
    code, out = _invoke("train", "--data", str(tmp_path), "--lr", "0.1", "--set", "train.learning_rate=0.2")  # fmt: skip
    assert code == 2 and "train.learning_rate: set by --lr and by --set" in out, out
    code, out = _invoke("train", "--data", str(tmp_path), "--set", "train.lora.r")
    assert code == 2 and "expected PATH=VALUE" in out, out
    code, out = _invoke("train", "--resume", "ftjob-x", "--lr", "0.1")
    assert code == 2 and "drop the options that set train.learning_rate" in out, out


def test_data_prepare_rejects_a_bad_share_and_writes_nothing(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    out_dir = tmp_path / "ds"
    code, out = _invoke("data", "prepare", str(rows), "--out", str(out_dir), "--validation-share", "2")  # fmt: skip
    assert code == 2 and "data.split.validation: must be < 1" in out, out
    assert not out_dir.exists()
    code, out = _invoke("data", "check", str(rows), "--set", "data.dedup.threshold=2", "-q")
    assert code == 2 and "data.dedup.threshold: must be <= 1" in out, out


def test_set_reaches_the_data_config(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": f"question {i} about my card"},
                                     {"role": "assistant", "content": f"answer {i}"}]}) + "\n"
            for i in range(12)
        )
    )  # fmt: skip
    code, out = _invoke("data", "check", str(rows), "--pii", "off", "-q")
    assert code == 0, out
    code, out = _invoke("data", "check", str(rows), "--pii", "off", "--set", "data.min_examples=50", "-q")  # fmt: skip
    assert code == 3 and "needs at least 50" in out, out


def test_run_takes_the_same_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "tunewise.yaml"
    config.write_text("project: p\n")
    code, out = _invoke("run", str(config), "--lr", "-1", "--set", "eval.max_new_tokens=0")
    assert code == 2 and "train.learning_rate" in out and "eval.max_new_tokens" in out, out
    assert str(config) in out  # file and options are validated together
    code, out = _invoke("run", str(config), "--resume", "--lora-r", "0")
    assert code == 2 and "train.lora.r" in out, out


def test_the_pipeline_applies_its_overrides(tmp_path: Path) -> None:
    from tunewise.errors import ConfigError
    from tunewise.pipeline.run import RunOptions, run

    config = tmp_path / "tunewise.yaml"
    config.write_text("project: p\n")
    with pytest.raises(ConfigError, match=r"train\.batch_size: must be > 0"):
        run(config, RunOptions(overrides={"train.batch_size": 0}))


def test_registry_options_are_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    code, out = _invoke("registry", "--url", url, "--set", "registry.stale_days=0", "list")
    assert code == 2 and "registry.stale_days: must be > 0" in out, out
    code, out = _invoke("registry", "--url", url, "stale", "--days", "0")
    assert code == 2 and "registry.stale_days: must be > 0 (set to 0)" in out, out
    code, out = _invoke("registry", "--url", url, "stale", "--days", "30")
    assert code == 0, out


def test_decide_flags_win_over_the_file(tmp_path: Path) -> None:
    config = tmp_path / "tunewise.yaml"
    config.write_text("decide:\n  labelled_examples: 5\n")
    code, out = _invoke("decide", "--config", str(config), "--labelled-examples", "-1")
    assert code == 2 and "decide.labelled_examples: must be >= 0" in out, out
    code, out = _invoke("decide", "--config", str(config), "--labelled-examples", "5000", "--json")
    assert code == 0, out


def _module_train(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tunewise.train", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_module_entry_point_uses_the_library_overlay(tmp_path: Path) -> None:
    shown = _module_train("--help")
    assert shown.returncode == 0 and "--set PATH=VALUE" in shown.stdout, shown.stderr
    assert "tunewise.cli" not in shown.stderr and " typer" not in shown.stderr  # importtime lines
    bad = _module_train("--data", str(tmp_path), "--out", str(tmp_path / "o"), "--lr", "-1",
                        "--set", "train.lora.r=0")  # fmt: skip
    assert bad.returncode == 2, bad.stderr
    assert "train.learning_rate: must be > 0" in bad.stderr and "train.lora.r" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_module_entry_point_flags_match_the_cli() -> None:
    from tunewise.train.__main__ import FLAGS

    cli = {flag: path for command, flag, path in _config_flags() if command == "train"}
    assert {flag: spec[0] for flag, spec in FLAGS.items()} == {f: cli[f] for f in FLAGS}


def test_config_show_and_validate_take_set(tmp_path: Path) -> None:
    import yaml

    config = tmp_path / "tunewise.yaml"
    config.write_text("project: p\ntrain:\n  lora:\n    r: 8\n")
    code, out = _invoke("config", "show", str(config), "--set", "train.learning_rate=1e-4")
    shown = yaml.safe_load(out)
    assert (
        code == 0 and shown["train"]["learning_rate"] == 1e-4 and shown["train"]["lora"]["r"] == 8
    )
    code, out = _invoke("config", "validate", str(config), "--set", "train.lora.r=0")
    assert code == 2 and "train.lora.r: must be > 0 (set to 0)" in out, out


def test_monitor_takes_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = _invoke("monitor", "billing", "--set", "monitor.nope=1", "--requests", "r.jsonl")
    assert code == 2 and "monitor.nope: unknown key" in out, out
