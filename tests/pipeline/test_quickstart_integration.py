"""The bundled quickstart with the real SmolLM2-135M-Instruct (several minutes on 2 CPU cores): from
fresh state, the run exits 0 with a model to ship: the cheaper variant when it reaches the target,
else a candidate that passes every gate rule, and says how to ship it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunewise.cli import app

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_the_quickstart_ends_with_a_model_to_ship(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNEWISE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    result = CliRunner().invoke(
        app, ["run", str(REPO / "examples/support-intent/tunewise.yaml"), "--no-progress"]
    )
    wall = time.perf_counter() - started
    run_dir = tmp_path / "runs" / "support-intent"
    summary = json.loads((run_dir / "summary.json").read_text())
    stages = {s["name"]: s for s in summary["stages"]}
    print(f"\nquickstart: {wall:.0f} s wall, exit {result.exit_code}")
    assert result.exit_code == 0, result.output
    cheapest = stages["cheapest"]["outputs"]
    if cheapest.get("reached"):
        # The honest outcome when a cheaper variant reaches run.target_score: no training, that
        # variant registered, and the commands that ship it.
        print(f"  {cheapest['label']} {cheapest['score']:.1%} reaches the target; not trained")
        _ships(result.output, cheapest["registered"]["model"])
        return
    report = json.loads((run_dir / "compare" / "report.json").read_text())
    rules = {r["rule"]: r for r in report["gate"]["rules"]}
    for r in rules.values():
        print(f"  {r['rule']}: {r['status']} - {r['detail']}")
    assert report["gate"]["decision"] == "accept"
    assert not [r for r in rules.values() if r["status"] == "block"]
    # No rule loosened: the example's gate is the default gate.
    assert rules["beats_alternative"]["status"] == "pass"
    registered = json.loads((run_dir / "register" / "registered.json").read_text())
    _ships(result.output, registered["model"])


def _ships(output: str, model: str) -> None:
    """The run printed the commands that ship `model`, and the first of them works."""
    lines = [" ".join(line.split()) for line in output.split("next, ")[1:]]
    assert len(lines) == 2, output
    promote, serve = lines[0].split(": ", 1)[1].split(" && ")
    assert promote.startswith(f"tunewise registry promote {model} ") and serve.startswith(
        "tunewise serve -c "
    )
    assert f"tunewise rollout start {model} --feature support-intent -c " in lines[1]
    result = CliRunner().invoke(app, promote.split()[1:])
    assert result.exit_code == 0, result.output
