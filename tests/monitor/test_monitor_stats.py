"""The statistics on crafted inputs: the classifier, outliers, drift per day, grown clusters, PSI,
chi-squared, KS. Embeddings here are synthetic unit vectors, so these tests need no model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tunewise.monitor import clusters, drift, outputs


def unit(n: int, seed: int, shift: float = 0.0, dims: int = 32) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dims)).astype(np.float32)
    x[:, 0] += shift
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_classifier_calls_drift_only_when_there_is_some() -> None:
    train = unit(300, 0)
    same, _ = drift.domain_classifier(train, unit(400, 1))
    assert same["auc"] < 0.55 and not same["drifted"]
    assert same["bootstrap"] and 0.5 < same["null_q95"] < 0.56  # small training set: the null
    shifted, scores = drift.domain_classifier(train, unit(400, 2, shift=1.5))
    assert shifted["auc"] > 0.8 and shifted["drifted"]
    assert scores.shape == (700,)
    big, _ = drift.domain_classifier(unit(1200, 3), unit(400, 4), bootstrap_below=1000)
    assert big["null_q95"] is None and not big["drifted"]
    few, none = drift.domain_classifier(train, unit(5, 5))
    assert few["auc"] is None and none is None and "skipped" in few


def test_null_standard_error() -> None:
    assert drift.null_se(300, 300) == pytest.approx(math.sqrt(601 / (12 * 300 * 300)))
    # Past a few times the training size, more production rows barely shrink it.
    assert drift.null_se(300, 1200) / drift.null_se(300, 10**9) < 1.12


def test_outliers_are_about_five_percent_without_drift() -> None:
    train = unit(600, 0, shift=-2.0, dims=8)
    _, far = drift.nn_outliers(train, unit(600, 1, shift=-2.0, dims=8))
    assert 0.01 < far.mean() < 0.12
    _, far = drift.nn_outliers(train, unit(200, 2, shift=4.0, dims=8))  # the side training lacks
    assert far.mean() > 0.5


def test_drift_by_day_finds_the_days_that_moved() -> None:
    train = unit(300, 0)
    prod = np.vstack([unit(300, 1), unit(300, 2, shift=1.5)])
    days = ["2026-05-0" + str(1 + i // 100) for i in range(600)]
    _, scores = drift.domain_classifier(train, prod)
    _, far = drift.nn_outliers(train, prod)
    by_day = drift.drift_by_day(scores, 300, days, far, threshold=0.55)
    assert [d["drifted"] for d in by_day] == [False] * 3 + [True] * 3
    assert all(d["n"] == 100 for d in by_day)


def test_grown_cluster_is_found_with_scrubbed_examples() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(16, dtype=np.float32)[:4] * 5

    def blob(c: int, n: int) -> np.ndarray:
        x = centres[c] + rng.normal(size=(n, 16)).astype(np.float32) * 0.3
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    train = np.vstack([blob(c, 100) for c in range(3)])
    prod = np.vstack([blob(c, 60) for c in range(3)] + [blob(3, 120)])
    train_texts = [f"refund order {i}" for i in range(300)]
    prod_texts = [f"refund order {i}" for i in range(180)] + [
        f"locker code never came write to me at ann{i % 3}@example.com" for i in range(120)
    ]
    scrub = lambda t: t.replace("@example.com", "@<REDACTED>")  # noqa: E731
    out = clusters.grown_clusters(
        train, prod, train_texts, prod_texts, k=4, seed=0, examples=2, scrub=scrub
    )
    top = out[0]
    assert top["grew"] and top["train_share"] == 0 and top["production_share"] == pytest.approx(0.4)
    assert "locker" in top["terms"] and len(top["examples"]) == 2
    assert all("<REDACTED>" in e and "example.com" not in e for e in top["examples"])
    assert not any(c["grew"] for c in out[1:])


def test_new_inputs_are_the_outliers_clustered() -> None:
    prod = unit(200, 0)
    prod[:40] = unit(40, 1, shift=6.0)  # one new kind of input
    far = np.zeros(200, dtype=bool)
    far[:40] = True
    far[150] = True  # a lone outlier joins no cluster of its own kind
    texts = [f"membership renewed twice {i}" if i < 40 else f"refund {i}" for i in range(200)]
    out = clusters.new_inputs(
        ["refund"] * 10, prod, texts, far, k=8, seed=0, examples=2, scrub=str.upper
    )
    assert len(out) == 4  # 41 outliers, at least 10 per cluster
    assert sum(k["n"] for k in out) == 41 and out[0]["production_share"] == out[0]["n"] / 200
    assert all(e.startswith("MEMBERSHIP") for k in out for e in k["examples"] if "REFUND" not in e)
    assert "membership" in {t for k in out for t in k["terms"]}
    assert (
        clusters.new_inputs(
            [], prod, texts, np.zeros(200, dtype=bool), k=8, seed=0, examples=2, scrub=str
        )
        == []
    )


def test_psi_value_and_bands() -> None:
    value = outputs.psi({"a": 50, "b": 50}, {"a": 90, "b": 10})
    assert value == pytest.approx(0.4 * math.log(1.8) + 0.4 * math.log(5), rel=1e-6)
    assert outputs.psi_band(value) == "major"
    assert outputs.psi_band(0.15) == "moderate" and outputs.psi_band(0.02) == "stable"
    assert outputs.psi({"a": 10}, {"a": 30}) == 0


def _answers(mix: dict[str, int]) -> list[str]:
    return [json.dumps({"intent": k, "priority": "low"}) for k, n in mix.items() for _ in range(n)]


def test_label_mix_against_training() -> None:
    train = _answers({"refund": 100, "billing": 100, "shipping": 100})
    same = outputs.label_drift(
        train, _answers({"refund": 34, "billing": 33, "shipping": 33}), "intent"
    )
    assert same["kind"] == "json" and same["psi_band"] == "stable" and same["chi2_p"] > 0.5
    shifted = _answers({"refund": 10, "billing": 10, "shipping": 60}) + ["not json"] * 20
    out = outputs.label_drift(train, shifted, "intent")
    assert out["psi_band"] == "major" and out["chi2_p"] < 1e-6
    invalid = next(x for x in out["labels"] if x["label"] == "(invalid)")
    assert invalid == {"label": "(invalid)", "train_share": 0.0, "production_share": 0.2}


def test_label_kind() -> None:
    assert outputs.label_kind(["refund", "billing", "refund", "other"] * 5, "intent")[0] == "text"
    kind, why = outputs.label_kind(["Here is a long answer about many things."] * 10, "intent")
    assert kind is None and "not label-like" in why
    assert "skipped" in outputs.label_drift(
        ["A long prose answer, not a label at all."] * 5, ["x"], None
    )


def test_answer_lengths_ks() -> None:
    same = outputs.length_drift(
        ["x" * (20 + i % 5) for i in range(200)], ["x" * (20 + i % 5) for i in range(100)]
    )
    assert same["p_value"] > 0.5
    longer = outputs.length_drift(["x" * 20] * 100, ["x" * 60] * 100)
    assert longer["ks"] == 1.0 and longer["p_value"] < 1e-10 and longer["production_mean"] == 60


def test_sample_size_keeps_the_null_se_within_ten_percent() -> None:
    from tunewise.monitor.analyze import power_sample_size

    for m, total in ((276, 10_080), (300, 50_000), (800, 100_000)):
        n = power_sample_size(m, total, cap=10**9)
        assert drift.null_se(m, n) <= 1.1 * drift.null_se(m, total) + 1e-12
        assert drift.null_se(m, n - 50) > 1.1 * drift.null_se(m, total)  # and not much larger
    assert power_sample_size(276, 10_080, cap=2000) == 1139
    assert power_sample_size(276, 700, cap=2000) == 700  # small logs: every prompt
    assert power_sample_size(4000, 100_000, cap=2000) == 2000  # the cap
    assert power_sample_size(276, 0, cap=2000) == 0


def test_rank_auc_matches_sklearn_and_the_null() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    scores = np.round(rng.random(500) + 0.3 * y, 2)  # with ties
    assert drift.auc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    draws = [
        roc_auc_score(np.r_[np.zeros(300), np.ones(200)], rng.random(500)) for _ in range(2000)
    ]
    assert drift.random_auc_q95(300, 200, seed=1) == pytest.approx(
        np.percentile(draws, 95), abs=0.006
    )
