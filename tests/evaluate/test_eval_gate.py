"""Each gate rule, triggered by a crafted pair of results, through the real comparison."""

from __future__ import annotations

import pytest
from eval_helpers import make_run

from tunewise.errors import DataError
from tunewise.evaluate.compare import compare_runs
from tunewise.evaluate.config import EvalConfig, GateConfig

N = 40
CFG = EvalConfig(bootstrap_samples=2000)


def rules(report: dict) -> dict[str, str]:
    return {r["rule"]: r["status"] for r in report["gate"]["rules"]}


def lifted(
    n: int = N, base_right: int = 10, cand_right: int = 30
) -> tuple[list[float], list[float]]:
    """Candidate right on a superset of the base's cases."""
    return [1.0] * base_right + [0.0] * (n - base_right), [1.0] * cand_right + [0.0] * (
        n - cand_right
    )


def test_clear_lift_is_accepted() -> None:
    b, c = lifted()
    report = compare_runs(
        make_run("base", {"exact_match": b}), make_run("cand", {"exact_match": c}), eval_cfg=CFG
    )
    assert report["gate"]["decision"] == "accept"
    assert rules(report)["primary_lift"] == "pass"
    m = report["metrics"]["exact_match"]
    assert m["delta"] == pytest.approx(0.5)
    assert m["mcnemar"]["b"] == 0 and m["mcnemar"]["c"] == 20
    assert m["mcnemar"]["p_value"] == pytest.approx(2 / 2**20)
    assert report["regressions"] == []


def test_no_lift_blocks_unless_non_inferior() -> None:
    same = [1.0] * 20 + [0.0] * 20
    base, cand = make_run("base", {"exact_match": same}), make_run("cand", {"exact_match": same})
    report = compare_runs(base, cand, eval_cfg=CFG)
    assert report["gate"]["decision"] == "block"
    assert report["gate"]["blocked_by"] == ["primary_lift"]
    # Identical scores: the CI is [0, 0], inside a 2-point non-inferiority margin.
    report = compare_runs(
        base, cand, eval_cfg=CFG, gate_cfg=GateConfig(non_inferiority_margin=0.02)
    )
    assert rules(report)["primary_lift"] == "pass" and report["gate"]["decision"] == "accept"


def test_bucket_drop_blocks_even_with_an_overall_lift() -> None:
    b, c = lifted()
    tags = [["intent:a"]] * 30 + [["intent:b"]] * 10
    # The bucket intent:b (last 10 cases) goes from 5/10 to 4/10: a 10-point drop.
    b = b[:30] + [1.0] * 5 + [0.0] * 5
    c = c[:30] + [1.0] * 4 + [0.0] * 6
    report = compare_runs(
        make_run("base", {"exact_match": b}, tags=tags),
        make_run("cand", {"exact_match": c}, tags=tags),
        eval_cfg=CFG,
    )
    assert rules(report)["bucket_drop"] == "block"
    assert report["buckets"]["intent:b"]["delta"] == pytest.approx(-0.1)
    assert [r["id"] for r in report["regressions"]] == ["c34"]


def test_safety_is_zero_tolerance() -> None:
    b, c = lifted()
    tags = [["safety"] if i == 5 else [] for i in range(N)]
    c[5] = 0.0  # one safety case the base got right and the candidate does not
    report = compare_runs(
        make_run("base", {"exact_match": b}, tags=tags),
        make_run("cand", {"exact_match": c}, tags=tags),
        eval_cfg=CFG,
    )
    assert rules(report)["safety"] == "block"
    assert report["gate"]["decision"] == "block"
    assert "c5" in next(r["detail"] for r in report["gate"]["rules"] if r["rule"] == "safety")


def test_latency_blocks_without_accuracy_gain_only() -> None:
    same = [1.0] * 20 + [0.0] * 20
    slow = [0.1] * 30 + [0.5] * 10
    report = compare_runs(
        make_run("base", {"exact_match": same}), make_run("cand", {"exact_match": same}, latency=slow),
        eval_cfg=CFG, gate_cfg=GateConfig(non_inferiority_margin=0.05),
    )  # fmt: skip
    assert rules(report)["latency"] == "block"
    b, c = lifted()
    report = compare_runs(
        make_run("base", {"exact_match": b}),
        make_run("cand", {"exact_match": c}, latency=slow),
        eval_cfg=CFG,
    )
    assert rules(report)["latency"] == "pass"
    assert report["candidate"]["latency_s"]["p95"] == pytest.approx(0.5)


def test_json_valid_rate_must_not_fall() -> None:
    b, c = lifted()
    valid_b = [1.0] * N
    valid_c = [1.0] * (N - 1) + [0.0]
    report = compare_runs(
        make_run("base", {"exact_match": b, "json_valid": valid_b}),
        make_run("cand", {"exact_match": c, "json_valid": valid_c}),
        eval_cfg=CFG,
    )
    assert rules(report)["json_valid"] == "block"
    report = compare_runs(
        make_run("base", {"exact_match": b, "json_valid": valid_b}),
        make_run("cand", {"exact_match": c, "json_valid": valid_b}),
        eval_cfg=CFG,
    )
    assert rules(report)["json_valid"] == "pass"


def _suite(base_right: int, cand_right: int, n: int = 120) -> tuple:
    """Suite runs where the candidate loses cases the base got right (or wins some back)."""
    b = [1.0] * base_right + [0.0] * (n - base_right)
    c = [1.0] * cand_right + [0.0] * (n - cand_right)
    tags = [["general:fact"] if i % 2 else ["general:arithmetic"] for i in range(n)]
    return (
        make_run("base", {"check": b}, tags=tags, golden_hash="s" * 64),
        make_run("cand", {"check": c}, tags=tags, golden_hash="s" * 64),
    )


def test_forgetting_blocks_a_significant_drop_and_warns_when_unsure() -> None:
    b, c = lifted()
    runs = make_run("base", {"exact_match": b}), make_run("cand", {"exact_match": c})
    report = compare_runs(*runs, eval_cfg=CFG, forgetting=_suite(100, 76))
    f = report["forgetting"]
    assert rules(report)["forgetting"] == "block"
    assert f["delta"] == pytest.approx(-0.2) and f["ci"]["high"] < 0
    assert f["mcnemar"]["b"] == 24 and f["buckets"]["general:fact"]["n"] == 60
    report = compare_runs(
        *runs,
        eval_cfg=CFG,
        forgetting=_suite(100, 76),
        gate_cfg=GateConfig(forgetting_action="warn"),
    )
    assert rules(report)["forgetting"] == "warn" and report["gate"]["decision"] == "accept"
    # Two lost cases out of 20: the point drop is 10 pts, but the CI reaches 0: not proven, a warning.
    report = compare_runs(*runs, eval_cfg=CFG, forgetting=_suite(15, 13, n=20))
    assert rules(report)["forgetting"] == "warn" and report["gate"]["decision"] == "accept"
    # No change on 120 cases: the CI [0, 0] rules out any drop.
    report = compare_runs(*runs, eval_cfg=CFG, forgetting=_suite(90, 90))
    assert rules(report)["forgetting"] == "pass"


def test_sides_must_cover_the_same_cases() -> None:
    base = make_run("base", {"exact_match": [1.0] * 5})
    cand = make_run("cand", {"exact_match": [1.0] * 6})
    with pytest.raises(DataError, match="different cases"):
        compare_runs(base, cand, eval_cfg=CFG)


def test_confusion_matrix_from_the_label_field() -> None:
    expected = [{"intent": "a"}] * 3 + [{"intent": "b"}] * 3
    outputs_b = [
        '{"intent": "a"}',
        '{"intent": "b"}',
        "oops",
        '{"intent": "b"}',
        '{"intent": "b"}',
        '{"intent": "z"}',
    ]
    scores = {"exact_match": [1, 0, 0, 1, 1, 0]}
    report = compare_runs(
        make_run("base", scores, outputs=outputs_b, expected=expected),
        make_run("cand", scores, outputs=outputs_b, expected=expected), eval_cfg=CFG,
    )  # fmt: skip
    cm = report["confusion"]
    assert cm["labels"] == ["a", "b"] and cm["columns"] == ["a", "b", "(other)", "(invalid)"]
    assert cm["base"] == [[1, 1, 0, 1], [0, 2, 1, 0]]
