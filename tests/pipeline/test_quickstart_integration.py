"""The bundled quickstart with the real SmolLM2-135M-Instruct (several minutes on 2 CPU cores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunewise.cli import app

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_quickstart_shows_a_real_lift_and_a_gate_decision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNEWISE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["run", str(REPO / "examples/support-intent/tunewise.yaml"), "--no-progress"]
    )
    assert result.exit_code in (0, 10), result.output  # accepted, or blocked by a named rule
    run_dir = tmp_path / "runs" / "support-intent"
    report = json.loads((run_dir / "compare" / "report.json").read_text())
    primary = report["metrics"][report["primary_metric"]]
    assert primary["candidate"] > primary["base"]
    assert primary["ci"]["low"] > 0  # a real lift: the paired bootstrap interval excludes zero
    assert report["gate"]["decision"] in {"accept", "block"}
    assert (run_dir / "register" / "registered.json").is_file()
