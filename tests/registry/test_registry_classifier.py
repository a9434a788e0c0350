"""The embedding classifier as a registry model kind: registered with lineage, gated, promoted, routed."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from classifier_data import EXAMPLE
from tunewise.errors import RegistryError
from tunewise.evaluate.api import scorers_from_config
from tunewise.evaluate.compare import compare_runs
from tunewise.evaluate.config import EvalConfig
from tunewise.evaluate.golden import load_golden
from tunewise.evaluate.runner import run_eval
from tunewise.evaluate.variants import Variant
from tunewise.registry import Registry


def classifier_report(clf: Path, tmp_path: Path) -> Path:
    """A real comparison: the classifier against a prompt-only base that answered nothing."""
    cfg = EvalConfig(cache=False, forgetting_suite=None, bootstrap_samples=500)
    golden = load_golden(EXAMPLE / "data" / "golden.jsonl")
    cand = run_eval(
        golden, Variant(kind="classifier", model=str(clf)), scorers_from_config(cfg), progress=False
    )
    silent = [replace(c, output="", scores={k: 0.0 for k in c.scores}) for c in cand.cases]
    ident = {"kind": "local", "model": "smollm2-135m", "base_hash": "b" * 64}
    base = replace(
        cand,
        label="base zero-shot",
        identity=ident,
        variant={"kind": "local", "model": "smollm2-135m"},
        cases=silent,
    )
    report = compare_runs(base, cand, eval_cfg=cfg)
    assert report["gate"]["decision"] == "accept", report["gate"]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    return path


def test_a_classifier_is_registered_gated_promoted_and_routed(
    support_classifier: Path, tmp_path: Path, reg: Registry
) -> None:
    clf = shutil.copytree(support_classifier, tmp_path / "support-clf")
    model = reg.register_model(clf)
    assert model.kind == "classifier" and model.base_id == "sentence-transformers/all-MiniLM-L6-v2"
    with pytest.raises(RegistryError, match="no gate decision"):
        reg.promote(model.name, "support")
    gate = reg.record_gate(classifier_report(clf, tmp_path), feature="support")
    assert gate.passed and gate.candidate_id == model.id and gate.reference == "base zero-shot"
    event = reg.promote(model.name, "support")
    assert event["model"] == "support-clf"
    route = reg.routing_table()["routes"]["support@production"]
    assert route["kind"] == "classifier"
    assert route["serving"]["classifier_path"] == str(clf.resolve())
    assert route["serving"]["embedder"]["id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert reg.lineage(model.name)["evals"][0]["metrics"]["exact_match"] > 0.5
    # The folder is pinned: a changed manifest is caught when the route is resolved.
    (clf / "manifest.json").write_text((clf / "manifest.json").read_text() + " ")
    with pytest.raises(RegistryError):
        reg.routing_table()
