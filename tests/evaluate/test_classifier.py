"""The embedding classifier: trained on real rows, answering in the feature's format, scored like a model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from classifier_data import EXAMPLE, banking77_split, example_schema
from tunewise.errors import ModelError
from tunewise.evaluate.api import evaluate_variant
from tunewise.evaluate.classifier import Head, load_classifier, train_classifier
from tunewise.evaluate.config import EvalConfig, ScorerSpec
from tunewise.evaluate.labels import NotALabelTask, infer_format
from tunewise.evaluate.variants import Variant, parse_variant

GOLDEN = EXAMPLE / "data" / "golden.jsonl"


def test_answers_in_the_features_json_format_pass_its_scorers(
    support_classifier: Path, tmp_path: Path
) -> None:
    scorers = [ScorerSpec(name=n) for n in ("exact_match", "json_valid", "json_fields")]
    scorers.append(ScorerSpec(name="json_schema", params={"schema": example_schema()}))
    cfg = EvalConfig(scorers=scorers, cache=False)
    run = evaluate_variant(
        GOLDEN, parse_variant(f"classifier:{support_classifier}"), cfg, out=tmp_path, progress=False
    )
    means = run.means()
    # Every answer is valid JSON that the schema accepts; most match the reference exactly.
    assert means["json_valid"] == 1.0 and means["json_schema"] == 1.0
    assert means["exact_match"] >= 0.6 and means["json_fields"] >= 0.8
    assert run.identity["kind"] == "classifier" and len(run.identity["classifier_sha256"]) == 64
    first = json.loads(run.cases[0].output)
    assert list(first) == ["intent", "priority", "order_id"]  # the training answers' key order
    # The order id is copied from the ticket, never invented.
    for case, golden in zip(
        run.cases, map(json.loads, GOLDEN.read_text().splitlines()), strict=True
    ):
        got = json.loads(case.output)
        user = golden["messages"][-1]["content"]
        assert ("order_id" in got) == ("ORD-" in user) and got.get("order_id", "") in user


def test_the_folder_describes_itself_and_round_trips(
    support_classifier: Path, tmp_path: Path
) -> None:
    clf = load_classifier(support_classifier)
    m = clf.manifest
    assert m["format"] == "tunewise.classifier/1" and m["kind"] == "classifier"
    assert (
        m["embedder"]["id"] == "sentence-transformers/all-MiniLM-L6-v2"
        and len(m["embedder"]["sha256"]) == 64
    )
    assert len(m["dataset"]["train_sha256"]) == 64 and m["dataset"]["rows"] > 200
    assert [h["field"] for h in m["heads"]] == ["intent", "priority"]
    assert "refund" in clf.labels()["intent"] and m["output"]["extract"] == {
        "order_id": "^ORD-[0-9]{5}$"
    }
    with np.load(support_classifier / "weights.npz", allow_pickle=False) as arrays:
        assert arrays["0.coef"].shape == (8, 384)
    ticket = [
        {
            "role": "user",
            "content": "I was charged twice for order ORD-12345, please fix the invoice.",
        }
    ]
    answer = json.loads(clf.predict(ticket))
    assert answer["intent"] == "billing" and answer["order_id"] == "ORD-12345"
    copy = shutil.copytree(support_classifier, tmp_path / "copy")
    assert load_classifier(copy).predict(ticket) == clf.predict(ticket)
    # Changed weights or another embedder: refused, never silently served.
    weights = (copy / "weights.npz").read_bytes()
    (copy / "weights.npz").write_bytes(weights[:-8] + b"\0" * 8)
    with pytest.raises(ModelError, match="changed since training"):
        load_classifier(copy)
    (copy / "weights.npz").write_bytes(weights)
    m2 = json.loads((copy / "manifest.json").read_text())
    m2["embedder"]["sha256"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(m2))
    with pytest.raises(ModelError, match="retrain it"):
        load_classifier(copy)
    with pytest.raises(ModelError, match="not a tunewise classifier"):
        load_classifier(tmp_path)


def test_banking77_intents_from_20_rows_each(banking77_csv: Path, tmp_path: Path) -> None:
    train, golden = banking77_split(banking77_csv, tmp_path / "b77")
    train_classifier(train, tmp_path / "clf")
    assert parse_variant(str(tmp_path / "clf")).kind == "classifier"  # a bare folder is recognised
    cfg = EvalConfig(scorers=[ScorerSpec(name="exact_match")], cache=False)
    run = evaluate_variant(
        golden, Variant(kind="classifier", model=str(tmp_path / "clf")), cfg, progress=False
    )
    assert (
        run.means()["exact_match"] >= 0.9
    )  # 100 held-out queries, disjoint from the 200 trained on


def test_free_text_answers_are_not_a_label_task() -> None:
    users = [f"question {i}" for i in range(20)]
    with pytest.raises(NotALabelTask, match="free text"):
        infer_format([f"a different long answer number {i}" for i in range(20)], users)
    answers = [
        json.dumps({"intent": "a" if i % 2 else "b", "summary": f"text {i}"}) for i in range(20)
    ]
    with pytest.raises(NotALabelTask, match="field 'summary'"):
        infer_format(answers, users, label_field="intent")
    with pytest.raises(NotALabelTask, match="label field"):
        infer_format(answers, users)
    fmt = infer_format(
        [json.dumps({"intent": "a"}, separators=(",", ":"))] * 3 + ['{"intent":"b"}'],
        users[:4],
        label_field="intent",
    )
    assert fmt.separators == [",", ":"]  # compact answers are rendered compact


def test_a_two_class_head_decides_by_the_sign_like_scikit_learn() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8)).astype(np.float32)
    y = np.where(x[:, 0] + 0.3 * x[:, 1] > 0, "yes", "no")
    model = LogisticRegression().fit(x, y)
    head = Head("answer", list(model.classes_), model.coef_, model.intercept_)
    assert head.predict(x) == list(model.predict(x))
