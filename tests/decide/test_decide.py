from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.decide import DecideConfig, decide

REPO = Path(__file__).resolve().parents[2]


def test_live_documents_and_fast_facts_point_to_rag() -> None:
    d = decide(DecideConfig(cites_live_documents=True, facts_change="daily", labelled_examples=200))
    assert d.recommendation == "rag"
    assert any("stale" in r for r in d.reasons["fine_tune"])


def test_stable_schema_bound_high_volume_task_points_to_fine_tuning() -> None:
    d = decide(
        DecideConfig(
            labelled_examples=800,
            output_schema=True,
            requests_per_day=100_000,
            prompt_tokens_today=1200,
        )
    )
    assert d.recommendation == "fine_tune"
    assert d.scores["fine_tune"] > d.scores["prompt"]


def test_actions_and_many_tasks_point_to_routing() -> None:
    assert decide(DecideConfig(needs_actions=True, distinct_tasks=4)).recommendation == "routing"


def test_few_examples_and_unstable_behaviour_stay_with_prompting() -> None:
    d = decide(DecideConfig(labelled_examples=5, behaviour_stable=False))
    assert d.recommendation == "prompt"


def test_fine_tune_on_fast_changing_facts_warns() -> None:
    d = decide(
        DecideConfig(
            facts_change="weekly",
            labelled_examples=5000,
            output_schema=True,
            latency_budget_ms=200,
            requests_per_day=10**6,
            prompt_tokens_today=2000,
        )
    )
    assert d.recommendation == "fine_tune"
    assert any("retrieval" in w for w in d.warnings)


def test_cli_flags_and_json() -> None:
    result = CliRunner().invoke(
        app, ["decide", "--cites-live-documents", "--facts-change", "daily", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["recommendation"] == "rag"


def test_cli_rejects_bad_signal_cleanly() -> None:
    result = CliRunner().invoke(app, ["decide", "--facts-change", "hourly"])
    assert result.exit_code == 2
    assert "facts_change" in result.output


def test_cli_questionnaire() -> None:
    answers = "\n".join(["n", "yearly", "y", "300", "y", "1", "n", "0", "20000", "800", "0"]) + "\n"
    result = CliRunner().invoke(app, ["decide", "--interactive"], input=answers)
    assert result.exit_code == 0, result.output
    assert "Recommendation: fine-tuning" in result.output


def test_intent_routing_with_a_handful_of_labels_points_to_a_classifier() -> None:
    signals = DecideConfig(labelled_examples=200, output_schema=True, label_count=10)
    d = decide(signals)
    assert d.recommendation == "classifier"
    assert any("intent routing with 10 labels" in r for r in d.reasons["classifier"])
    # The same task with free-text answers has no classifier to try.
    free = decide(signals.model_copy(update={"label_count": 0}))
    assert free.recommendation == "fine_tune" and free.scores["classifier"] == 0


def test_banking77_example_recommends_the_classifier() -> None:
    result = CliRunner().invoke(
        app, ["decide", "--config", str(REPO / "examples/banking77/tunewise.yaml"), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["recommendation"] == "classifier"
