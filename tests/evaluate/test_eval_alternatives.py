"""The beats_alternative rule: a fine-tune must beat the best non-fine-tuned variant, with a CI."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_helpers import make_run

from tunewise.evaluate.compare import compare_runs
from tunewise.evaluate.config import EvalConfig, GateConfig
from tunewise.evaluate.report import write_report
from tunewise.evaluate.runner import RunResult

N = 40
CFG = EvalConfig(bootstrap_samples=2000)


def right(k: int, n: int = N) -> list[float]:
    return [1.0] * k + [0.0] * (n - k)


def run(label: str, k: int, kind: str = "local") -> RunResult:
    r = make_run(label, {"exact_match": right(k)})
    r.variant["kind"] = r.identity["kind"] = kind
    return r


def rule(report: dict, name: str = "beats_alternative") -> dict:
    return next(r for r in report["gate"]["rules"] if r["rule"] == name)


def test_a_fine_tune_below_the_classifier_is_blocked(tmp_path: Path) -> None:
    base, cand = run("base zero-shot", 5), run("fine-tuned", 30)
    alts = [run("base 3-shot", 20), run("embedding classifier", 38, "classifier")]
    report = compare_runs(base, cand, eval_cfg=CFG, alternatives=alts)
    # The fine-tune clears the base by 62 points, so primary_lift passes; the classifier is better.
    assert rule(report, "primary_lift")["status"] == "pass"
    r = rule(report)
    assert r["status"] == "block" and r["values"]["alternative"] == "embedding classifier"
    assert r["values"]["delta"] == pytest.approx(-0.2) and r["values"]["ci_low"] < 0
    assert report["gate"]["blocked_by"] == ["beats_alternative"]
    alt = report["alternatives"]
    assert alt["best"] == "embedding classifier" and [x["label"] for x in alt["rows"]] == [
        "embedding classifier",
        "base 3-shot",
    ]
    assert alt["rows"][0]["mcnemar"]["b"] == 8 and alt["rows"][0]["kind"] == "classifier"
    paths = write_report(report, tmp_path, base, cand)
    md = paths["md"].read_text()
    assert "| beats_alternative | block |" in md and "Non-fine-tuned alternatives" in md
    assert "embedding classifier (best)" in md
    html = paths["html"].read_text()
    assert 'id="chart-alternatives"' in html and "embedding classifier" in html


def test_a_fine_tune_clearly_above_every_alternative_passes() -> None:
    report = compare_runs(
        run("base", 5), run("fine-tuned", 38), eval_cfg=CFG,
        alternatives=[run("classifier", 20, "classifier"), run("3-shot", 10)],
    )  # fmt: skip
    r = rule(report)
    assert r["status"] == "pass" and r["values"]["alternative"] == "classifier"
    assert r["values"]["ci_low"] > 0 and report["gate"]["decision"] == "accept"


def test_the_margin_raises_the_bar_and_null_turns_the_rule_off() -> None:
    base, cand, alts = run("base", 5), run("fine-tuned", 36), [run("classifier", 30, "classifier")]
    assert rule(compare_runs(base, cand, eval_cfg=CFG, alternatives=alts))["status"] == "pass"
    strict = GateConfig(alternative_margin=0.1)
    assert (
        rule(compare_runs(base, cand, eval_cfg=CFG, gate_cfg=strict, alternatives=alts))["status"]
        == "block"
    )
    off = GateConfig(alternative_margin=None)
    assert (
        rule(compare_runs(base, cand, eval_cfg=CFG, gate_cfg=off, alternatives=alts))["status"]
        == "skip"
    )


def test_without_alternatives_the_rule_skips_and_the_candidate_itself_is_not_one() -> None:
    base, cand = run("base", 5), run("fine-tuned", 30)
    assert rule(compare_runs(base, cand, eval_cfg=CFG))["status"] == "skip"
    report = compare_runs(base, cand, eval_cfg=CFG, alternatives=[run("fine-tuned", 30)])
    assert report["alternatives"] is None and rule(report)["status"] == "skip"


def test_compare_cli_judges_the_candidate_against_a_classifier(
    tiny_model: Path, tiny_adapter: Path, support_classifier: Path, tmp_path: Path
) -> None:
    import json

    from typer.testing import CliRunner

    from classifier_data import EXAMPLE
    from tunewise.cli import app

    out = tmp_path / "report"
    args = ["compare", "--golden", str(EXAMPLE / "data" / "golden.jsonl"), "--base", str(tiny_model),
            "--candidate-adapter", str(tiny_adapter), "--alternative", f"classifier:{support_classifier}",
            "--out", str(out), "--no-forgetting", "--max-new-tokens", "4"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 10, result.output
    report = json.loads((out / "report.json").read_text())
    assert "beats_alternative" in report["gate"]["blocked_by"]
    best = report["alternatives"]["rows"][0]
    assert best["kind"] == "classifier" and best["alternative"] >= 0.6 and best["ci"]["high"] < 0
