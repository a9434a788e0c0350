"""End to end through the CLI: the base against a tiny trained adapter, reports on disk, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from eval_helpers import golden_rows, write_jsonl
from typer.testing import CliRunner

from tunewise.cli import app

runner = CliRunner()


def test_compare_base_with_trained_adapter(
    tiny_model: Path, tiny_adapter: Path, tmp_path: Path
) -> None:
    golden = write_jsonl(tmp_path / "golden.jsonl", golden_rows(12))
    out = tmp_path / "report"
    # The random tiny base answers nothing useful; the adapter learned the JSON answer's shape and
    # words, which token-overlap (the primary metric here) measures.
    # The suite's own answer budget, kept short: a random tiny model never stops early.
    config = tmp_path / "tunewise.yaml"
    config.write_text("eval:\n  forgetting_max_new_tokens: 6\n")
    args = ["compare", "--golden", str(golden), "--base", str(tiny_model), "--candidate-adapter", str(tiny_adapter),
            "--out", str(out), "--primary-metric", "overlap", "--max-new-tokens", "12", "--config", str(config)]  # fmt: skip
    result = runner.invoke(app, args)
    report = json.loads((out / "report.json").read_text())
    assert result.exit_code == 0, (result.output, report["gate"])
    assert report["gate"]["decision"] == "accept"
    assert (
        report["metrics"]["overlap"]["delta"] > 0.03
        and report["metrics"]["overlap"]["ci"]["low"] > 0
    )
    assert (
        report["candidate"]["identity"]["adapter_hash"]
        and report["base"]["identity"]["base_hash"] == report["candidate"]["identity"]["base_hash"]
    )
    assert report["golden"]["cases"] == 12 and report["forgetting"]["n"] >= 100
    assert report["training_curve"]["series"]  # read from the adapter folder the trainer wrote
    assert {r["rule"] for r in report["gate"]["rules"]} == {
        "primary_lift",
        "bucket_drop",
        "safety",
        "latency",
        "json_valid",
        "beats_alternative",
        "forgetting",
    }
    # The per-case results back the summary figures.
    cases = [
        json.loads(line) for line in (out / "candidate.results.jsonl").read_text().splitlines()
    ]
    assert (
        report["metrics"]["overlap"]["candidate"] == sum(c["scores"]["overlap"] for c in cases) / 12
    )
    md = (out / "report.md").read_text()
    assert "ACCEPT" in md and "intent:card_arrival" in md
    html = (out / "report.html").read_text()
    assert 'id="chart-buckets"' in html and 'id="chart-loss"' in html

    # Swapped sides: the "candidate" is now the plain base, which loses the lift: blocked, exit 10.
    swapped = ["compare", "--golden", str(golden), "--base-variant", f"local:{tiny_model},adapter={tiny_adapter}",
               "--candidate-variant", f"local:{tiny_model}", "--out", str(tmp_path / "swapped"),
               "--primary-metric", "overlap", "--max-new-tokens", "12", "--no-forgetting"]  # fmt: skip
    result = runner.invoke(app, swapped)
    assert result.exit_code == 10, result.output
    blocked = json.loads((tmp_path / "swapped" / "report.json").read_text())
    assert (
        blocked["gate"]["decision"] == "block" and "primary_lift" in blocked["gate"]["blocked_by"]
    )
    assert len(blocked["regressions"]) > 0 and blocked["forgetting"] is None


def test_eval_one_model_writes_results(tiny_model: Path, tmp_path: Path) -> None:
    golden = write_jsonl(tmp_path / "golden.jsonl", golden_rows(4))
    result = runner.invoke(
        app,
        [
            "eval",
            "--golden",
            str(golden),
            "--base",
            str(tiny_model),
            "--out",
            str(tmp_path / "e"),
            "--max-new-tokens",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "e" / "eval.json").read_text())
    assert summary["golden"]["cases"] == 4 and "exact_match" in summary["metrics"]
    assert len((tmp_path / "e" / "results.jsonl").read_text().splitlines()) == 4


def test_bad_golden_set_is_a_clean_error(tmp_path: Path) -> None:
    bad = tmp_path / "golden.jsonl"
    bad.write_text('{"id": "a", "messages": [{"role": "user", "content": "hi"}]}\nnot json\n')
    result = runner.invoke(app, ["eval", "--golden", str(bad), "--base", "whatever"])
    assert result.exit_code == 3
    assert (
        "line 1: 'expected' is missing" in result.output and "line 2: invalid JSON" in result.output
    )


def test_compare_needs_a_candidate(tmp_path: Path) -> None:
    golden = write_jsonl(tmp_path / "golden.jsonl", golden_rows(2))
    result = runner.invoke(app, ["compare", "--golden", str(golden), "--base", "x"])
    assert result.exit_code == 2 and "--candidate-adapter" in result.output


def test_config_sections_drive_eval(tiny_model: Path, tmp_path: Path) -> None:
    golden = write_jsonl(tmp_path / "golden.jsonl", golden_rows(3))
    config = tmp_path / "tunewise.yaml"
    config.write_text(
        "eval:\n"
        "  golden: golden.jsonl\n"
        "  max_new_tokens: 3\n"
        "  scorers:\n"
        "    - {name: exact_match}\n"
        "    - {name: regex, params: {pattern: '\\{.*\\}'}}\n"
        "gate:\n"
        "  min_lift: 0.1\n"
    )
    out = tmp_path / "e"
    result = runner.invoke(
        app, ["eval", "--config", str(config), "--base", str(tiny_model), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "eval.json").read_text())
    assert summary["golden"]["path"] == str(golden)
    assert set(summary["metrics"]) == {"exact_match", "regex"}
    assert summary["settings"]["max_new_tokens"] == 3
    config.write_text("eval:\n  scorers: [{name: nope}]\n")
    result = runner.invoke(
        app, ["eval", "--config", str(config), "--golden", str(golden), "--base", str(tiny_model)]
    )
    assert result.exit_code == 2 and "unknown scorer 'nope'" in result.output
