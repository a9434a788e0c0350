"""`tunewise registry ...` driven the way a user does (CliRunner), checking output and files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from registry_helpers import GOLDEN, GOLDEN_ROW, gate, make_adapter, make_dataset
from typer.testing import CliRunner

from tunewise.cli import app


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TUNEWISE_REGISTRY_URL", f"sqlite:///{tmp_path / 'registry.db'}")
    monkeypatch.setenv("TUNEWISE_USER", "ci-bot")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["registry", *args])
        out = result.stdout + (result.stderr or "")
        assert result.exit_code == code, out
        return out

    return run


def test_full_flow(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    ds = make_dataset(tmp_path / "data")
    cli("register-dataset", str(ds))
    for i, name in enumerate(("m1", "m2")):
        cli("register-model", str(make_adapter(tmp_path / "runs", name, ds, seed=i)))
    cli(
        "register-model",
        "--provider-model",
        "ft:gpt-4o-mini:acme::p1",
        "--base",
        "gpt-4o-mini",
        "--job",
        "ftjob-1",
    )

    out = cli("promote", "m1", "--feature", "support", code=7)
    assert "refusing to promote 'm1'" in out and "record-gate" in out

    report = tmp_path / "gate.json"
    report.write_text(json.dumps(gate("m1", "base")))
    assert "pass" in cli("record-gate", str(report), "--feature", "support")
    assert "-> m1" in cli("promote", "m1", "--feature", "support", "--reason", "beats base")

    out = cli("promote", "m2", "--feature", "support", "--force", code=7)
    assert "--force needs --reason" in out
    assert "(forced)" in cli(
        "promote",
        "m2",
        "--feature",
        "support",
        "--force",
        "--reason",
        "incident 7",
        "--by",
        "oncall",
    )

    history = json.loads(cli("history", "support", "--json"))
    assert [(e["model"], e["by"], e["forced"]) for e in history] == [
        ("m1", "ci-bot", False),
        ("m2", "oncall", True),
    ]

    assert "m2 -> m1" in cli("rollback", "support", "--alias", "production")
    out = cli("lineage", "m1")
    for part in (
        "dataset 1.0.0",
        "job local job-m1",
        "model m1",
        "gates",
        "support@production promote",
    ):
        assert part in out, out
    info = json.loads(cli("show", "m1", "--json"))
    assert info["model"]["aliases"] == ["support@production"]

    cli(
        "record-eval",
        "m1",
        "--golden-sha256",
        GOLDEN,
        "--variant",
        "candidate",
        "--metrics",
        '{"accuracy": 0.9}',
    )
    assert "deprecated" in cli("deprecate", "m2", "--reason", "superseded")
    models = json.loads(cli("list", "--json"))
    assert [(m["model"], m["deprecated"]) for m in models] == [
        ("m1", False),
        ("m2", True),
        ("ft:gpt-4o-mini:acme::p1", False),
    ]
    assert "1.0.0" in cli("list", "--datasets")
    assert "m1" in cli("list")
    # Names are what a user copies into `promote`: never cut, however narrow the terminal.
    monkeypatch.setenv("COLUMNS", "60")
    assert "ft:gpt-4o-mini:acme::p1" in cli("list")

    cli("routes", "--out", "routes.json")
    routes = json.loads((tmp_path / "routes.json").read_text())["routes"]
    assert routes["support@production"]["model"] == "m1"
    assert json.loads(cli("routes"))["routes"] == routes

    assert "no stale models" in cli("stale", "--days", "30")


def test_errors_are_clean(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("show", "nope", code=7)
    assert "no model registered as 'nope'; run tunewise registry list" in out
    assert "Traceback" not in out
    ds = make_dataset(tmp_path / "data")
    ad = make_adapter(tmp_path / "runs", "m1", ds)
    cli("register-model", str(ad))
    (ad / "adapter_config.json").write_text("{}")
    assert "changed since registration" in cli("show", "m1", code=7)
    assert "model m1" in cli("show", "m1", "--no-verify")


def test_config_file_sets_url_and_golden(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("TUNEWISE_REGISTRY_URL")
    (tmp_path / "golden.jsonl").write_text(json.dumps(GOLDEN_ROW) + "\n")
    (tmp_path / "tunewise.yaml").write_text(
        "registry:\n  url: sqlite:///cfg.db\n  golden: golden.jsonl\n  stale_days: 30\n"
    )
    ds = make_dataset(tmp_path / "data")
    cli("register-model", str(make_adapter(tmp_path / "runs", "m1", ds)))
    assert (tmp_path / "cfg.db").is_file()
    (tmp_path / "gate.json").write_text(json.dumps(gate("m1", "base")))  # on another golden set
    cli("record-gate", "gate.json", "--feature", "support")
    assert "configured golden set" in cli("promote", "m1", "-f", "support", code=7)
