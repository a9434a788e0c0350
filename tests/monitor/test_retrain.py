"""The closed loop on the tiny model: v1 trained and promoted, two weeks of replayed traffic,
`tunewise monitor --check` fires on week 2, `--export-review` writes rows that a rule labels (the
replay knows each ticket's right answer), `tunewise retrain` builds dataset 1.1.0 with provenance
`production`, trains v2 with v1's recorded config, gates it against v1 (not the base) on v1's
golden set, registers generation 2 with why, and starts the canary rollout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from monitor_helpers import FEATURE, START, replay_module, week, write_config
from typer.testing import CliRunner

from tunewise.cli import app

runner = CliRunner()
V1 = "support-intent-v1"


def _project(folder: Path, tiny_model: Path) -> Path:
    path = write_config(folder, triggers={"max_age_days": None}, retrain={"min_reviewed": 20})
    raw = yaml.safe_load(path.read_text())
    raw["train"] = {"base": str(tiny_model), "epochs": 1, "max_steps": 2, "batch_size": 8,
                    "max_length": 256}  # fmt: skip
    raw["eval"] = {"max_new_tokens": 8, "forgetting_suite": None, "bootstrap_samples": 200}
    # A random tiny model's latency is noise on a shared CPU: that rule is not what is tested here.
    raw["gate"] = {"max_p95_latency_increase": 100.0}
    path.write_text(yaml.safe_dump(raw))
    return path


def _v1(folder: Path, cfg_path: Path) -> None:
    """Dataset 1.0.0, an adapter trained on it, registered and promoted to production."""
    from tunewise.config import load_config
    from tunewise.pipeline import steps
    from tunewise.registry import Registry

    data = folder / "data-v1"
    result = runner.invoke(app, ["data", "prepare", "-c", str(cfg_path), "--out", str(data)])
    assert result.exit_code == 0, result.output
    cfg = load_config(cfg_path)
    ctx = steps.StageContext(cfg, [], None, progress=False)
    (folder / "v1").mkdir()
    trained = steps.train(ctx, folder / "v1", {"data": {"dataset": str(data)}})
    with Registry(config_url=cfg.registry.url) as reg:
        reg.register_dataset(data)
        reg.register_model(trained["adapter"], name=V1)
        reg.promote(V1, FEATURE, reason="first model", force=True, by="test")


def _label_by_rule(export: Path, rows: list[dict[str, Any]]) -> int:
    """Fill `answer` with the replay's right answer (a rule), on every exported row."""
    expected = {r["request_id"]: r["replay"]["expected"] for r in rows}
    lines = [json.loads(x) for x in export.read_text().splitlines()]
    for line in lines:
        line["answer"] = json.dumps(expected[line["request_id"]])
        line["labelled_by"] = "rule"
    export.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return sum(x["answer"] != x["model_answer"] for x in lines)


@pytest.fixture
def loop(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    pytest.importorskip("sklearn")
    monkeypatch.setenv("TUNEWISE_HOME", str(tmp_path / ".tunewise"))
    cfg = _project(tmp_path, tiny_model)
    _v1(tmp_path, cfg)
    rows = replay_module().generate_rows(START, per_day=30, text_share=0.6, model=V1)
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"folder": tmp_path, "config": cfg, "rows": rows, "requests": requests}


def test_monitor_then_retrain_then_gate_then_canary(loop: dict[str, Any]) -> None:
    from tunewise.registry import Registry

    folder, cfg, requests = loop["folder"], str(loop["config"]), str(loop["requests"])
    since, until = week(2)
    window = ["--requests", requests, "--since", since, "--until", until, "-c", cfg]
    checked = runner.invoke(app, ["monitor", FEATURE, *window, "--check", "-o", str(folder / "m")])
    assert checked.exit_code == 11, checked.output  # week 2 drifted: a trigger fired
    export = folder / "review.jsonl"
    out = runner.invoke(
        app, ["monitor", FEATURE, *window, "--export-review", str(export), "--review-limit", "60"]
    )
    assert out.exit_code == 0, out.output
    assert "wrote 60 row(s) to review" in out.output
    corrected = _label_by_rule(export, loop["rows"])
    assert corrected > 0  # the simulated v1 is often wrong on week 2's new phrasing

    done = runner.invoke(app, ["retrain", FEATURE, "--reviewed", str(export), "-c", cfg, "--no-progress",
                               "--out", str(folder / "r"), "--force-rollout", "checklist not kept in this test"])  # fmt: skip
    assert done.exit_code == 0, done.output
    result = json.loads((folder / "r" / "retrain.json").read_text())
    data = result["data"]
    assert (data["from"], data["to"]) == ("1.0.0", "1.1.0")
    assert data["reviewed"]["reviewed"] == 60 and data["reviewed"]["labelled_by"] == {"rule": 60}
    prod = data["production"]
    assert prod["offered"] == 48  # 12 of 60 (20%) held out as the refreshed golden slice
    assert 0 < prod["kept"] <= 48 and prod["kept"] + sum(prod["dropped"].values()) == 48
    manifest = json.loads((Path(data["folder"]) / "manifest.json").read_text())
    assert manifest["version"] == "1.1.0"
    assert manifest["provenance"]["kept"]["production"] == prod["production_rows"] >= prod["kept"]
    # Trained with v1's recorded config, on the new version.
    adapter = json.loads((folder / "r" / "train" / "adapter" / "manifest.json").read_text())
    v1_adapter = json.loads((folder / "v1" / "adapter" / "manifest.json").read_text())
    # ... continued from v1's adapter (monitor.retrain.warm_start) at a fifth of its rate
    assert adapter["config"] == {
        **v1_adapter["config"],
        "init_adapter": str(folder / "v1" / "adapter"),
        "learning_rate": pytest.approx(v1_adapter["config"]["learning_rate"] * 0.2),
    }
    assert adapter["dataset"]["manifest_sha256"] == data["manifest_sha256"]
    # Gated against v1 on the refreshed golden set: v1's golden cases plus the 12 held-out rows,
    # each part a bucket of the report, with its own paired figures.
    report = json.loads(Path(result["gate"]["report"]).read_text())
    assert report["base"]["variant"]["adapter"] == str(folder / "v1" / "adapter")
    assert result["gate"]["decision"] == "accept", result["gate"]
    golden_n = len((folder / "data-v1" / "golden.jsonl").read_text().splitlines())
    assert report["golden"]["cases"] == golden_n + 12
    assert report["buckets"]["source:golden"]["n"] == golden_n == result["slice"]["golden"]["n"]
    assert report["buckets"]["source:production"]["n"] == 12 == result["slice"]["slice"]["n"]
    sliced = result["slice"]["slice"]
    assert (
        sliced["metric"] == "exact_match"
        and sliced["ci"]["low"] <= sliced["delta"] <= sliced["ci"]["high"]
        and sliced["mcnemar"] is not None  # exact match is right/wrong
    )
    assert (
        "refreshed golden set (golden + slice)" in done.output
        and "slice part (12 cases)" in done.output
    )
    assert result["rollout"]["started"] and result["rollout"]["model"] == result["model"]

    with Registry(config_url=f"sqlite:///{folder / 'tunewise.db'}") as reg:
        gate = reg.lineage(result["model"], verify=False)["gates"][-1]
        assert gate["reference"] == V1 and not gate["reference_is_base"]
        assert reg.holder(FEATURE, "canary") == result["model"]
        event = reg.events(feature=FEATURE, kind="retrain.generation")[0]
    assert event["model"] == result["model"] and event["detail"]["parent"] == V1
    assert event["detail"]["generation"] == 2 and "input_drift" in event["detail"]["why"]["fired"]
    assert f"generation 2: {V1} -> {result['model']}" in done.output


def test_review_file_errors_name_the_line(tmp_path: Path) -> None:
    from tunewise.errors import DataError
    from tunewise.monitor.review import load_reviewed

    good = {"prompt": "my parcel is late", "model_answer": "x", "answer": "y"}
    path = tmp_path / "review.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "answer": None}) + "\n"
                    + json.dumps({**good, "skip": True}) + "\n")  # fmt: skip
    got = load_reviewed(path, "be brief")
    assert got.summary() == {"lines": 3, "reviewed": 1, "unreviewed": 1, "skipped": 1, "corrected": 1,
                             "labelled_by": {"human": 1}}  # fmt: skip
    assert got.rows[0] == {"provenance": "production", "messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "my parcel is late"},
        {"role": "assistant", "content": "y"}]}  # fmt: skip
    for bad, where in [("{not json", "review.jsonl:2: not valid JSON"),
                       (json.dumps({**good, "answer": 3}), "review.jsonl:2: field 'answer' must be a string"),
                       (json.dumps({**good, "labelled_by": "intern"}), "review.jsonl:2: field 'labelled_by'"),
                       (json.dumps({**good, "prompt": ""}), "review.jsonl:2: field 'prompt'")]:  # fmt: skip
        path.write_text(json.dumps(good) + "\n" + bad + "\n")
        with pytest.raises(DataError, match=where):
            load_reviewed(path, None)


def test_bump_minor() -> None:
    from tunewise.errors import DataError
    from tunewise.monitor.nextdata import bump_minor

    assert [bump_minor(v) for v in ("1.0.0", "2.3.7", None, "1.4.0-rc1")] == [
        "1.1.0",
        "2.4.0",
        "1.1.0",
        "1.5.0",
    ]
    with pytest.raises(DataError, match="not a semantic version"):
        bump_minor("latest")


def test_next_version_gates_stop_a_retrain_before_training(tmp_path: Path) -> None:
    from tunewise.config import load_config
    from tunewise.errors import DataError
    from tunewise.monitor.nextdata import next_version

    cfg_path = write_config(tmp_path)
    data = tmp_path / "data-v1"
    assert (
        runner.invoke(app, ["data", "prepare", "-c", str(cfg_path), "--out", str(data)]).exit_code
        == 0
    )
    rows = replay_module().generate_rows(START, per_day=10, text_share=1.0, days=14)
    review = tmp_path / "review.jsonl"
    lines = [{"prompt": r["prompt"][-1]["content"], "model_answer": r["answer"],
              "answer": json.dumps(r["replay"]["expected"])} for r in rows[70:]]  # fmt: skip
    review.write_text("".join(json.dumps(x) + "\n" for x in lines))
    cfg = load_config(cfg_path)
    few = cfg.model_copy(update={"monitor": cfg.monitor.model_copy(update={
        "retrain": cfg.monitor.retrain.model_copy(update={"min_reviewed": 500})})})  # fmt: skip
    with pytest.raises(DataError, match=r"70 reviewed row.*at least 500"):
        next_version(few, data, "1.0.0", review, tmp_path / "a")
    capped = cfg.model_copy(update={"monitor": cfg.monitor.model_copy(update={
        "retrain": cfg.monitor.retrain.model_copy(update={"max_production_share": 0.05})})})  # fmt: skip
    with pytest.raises(DataError, match="over the cap of 5%"):
        next_version(capped, data, "1.0.0", review, tmp_path / "b")
    assert not (tmp_path / "b" / "dataset").exists()  # nothing half-made is left to train on
    ok = next_version(cfg, data, "1.0.0", review, tmp_path / "c")
    assert ok.semver == "1.1.0" and ok.production["offered"] == 56 and ok.slice_path is not None
    golden = [json.loads(x) for x in ok.slice_path.read_text().splitlines()]
    assert len(golden) == 14 and isinstance(golden[0]["expected"], dict)
    assert (
        golden[0]["messages"][0]["role"] == "system" and golden[0]["messages"][-1]["role"] == "user"
    )


def test_the_refreshed_golden_set_tags_both_parts_and_keeps_ids_unique(tmp_path: Path) -> None:
    from tunewise.monitor.retrain import refreshed_golden

    golden, sliced = tmp_path / "golden.jsonl", tmp_path / "slice.jsonl"
    golden.write_text(
        json.dumps({"id": "g-1", "messages": [], "expected": "a", "tags": ["safety"]}) + "\n"
        + json.dumps({"id": "p-0001", "messages": [], "expected": "b"}) + "\n"
    )  # fmt: skip
    sliced.write_text(
        json.dumps({"id": "p-0001", "messages": [], "expected": "c", "tags": ["source:production"]})
        + "\n"
    )
    assert refreshed_golden(golden, None, tmp_path / "out.jsonl") == golden  # no slice: as it was
    out = refreshed_golden(golden, sliced, tmp_path / "out.jsonl")
    cases = [json.loads(x) for x in out.read_text().splitlines()]
    assert [c["id"] for c in cases] == ["g-1", "p-0001", "slice-p-0001"]
    assert [c["tags"] for c in cases] == [
        ["safety", "source:golden"],
        ["source:golden"],
        ["source:production"],
    ]


def test_reviewed_rows_give_live_accuracy_and_its_trigger(loop: dict[str, Any]) -> None:
    """Reference-free scores cannot see a valid but wrong answer; reviewed rows can: `--reviewed`
    joins a filled review file to the log and scores the served answers with the primary metric."""
    from tunewise.registry import Registry

    folder, cfg, requests = loop["folder"], str(loop["config"]), str(loop["requests"])
    since, until = week(2)
    window = ["--requests", requests, "--since", since, "--until", until, "-c", cfg]
    export = folder / "review.jsonl"
    out = runner.invoke(
        app, ["monitor", FEATURE, *window, "--export-review", str(export), "--review-limit", "60"]
    )
    assert out.exit_code == 0, out.output
    _label_by_rule(export, loop["rows"])
    lines = [json.loads(x) for x in export.read_text().splitlines()]
    right = sum(json.loads(x["answer"]) == _json_or_none(x["model_answer"]) for x in lines)
    # The eval said 1.0: the reviewed week-2 rows show how far the served answers fell.
    with Registry(config_url=f"sqlite:///{folder / 'tunewise.db'}") as reg:
        reg.record_eval(V1, metrics={"exact_match": 1.0}, golden_sha256="0" * 64, variant=V1)
    done = runner.invoke(app, ["monitor", FEATURE, *window, "--reviewed", str(export), "--no-record",
                               "--check", "-o", str(folder / "m2")])  # fmt: skip
    report = json.loads((folder / "m2" / "monitor.json").read_text())
    live = report["quality"]["model_rows"]["metrics"]["exact_match"]
    assert live["n"] == 60 and live["mean"] == pytest.approx(right / 60)
    assert 0 < right < 60  # the replay's v1 is wrong on some of week 2's new phrasing
    fired = {f["trigger"]: f for f in report["triggers"]["fired"]}
    assert "quality:exact_match" in fired and done.exit_code == 11, done.output
    assert f"quality exact_match: live {right / 60:.3f} vs eval 1.000 (n=60)" in done.output
    # Without the review file the figure is absent (no reference to score against).
    plain = runner.invoke(
        app, ["monitor", FEATURE, *window, "--no-record", "-o", str(folder / "m3")]
    )
    assert plain.exit_code == 0, plain.output
    report = json.loads((folder / "m3" / "monitor.json").read_text())
    assert "exact_match" not in report["quality"]["model_rows"]["metrics"]


def _json_or_none(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def test_a_reviewed_answer_is_the_reference_whatever_its_form() -> None:
    from datetime import UTC, datetime

    from tunewise.monitor.quality import reviewed_answer
    from tunewise.monitor.requests import Request

    def req(review: Any) -> Request:
        return Request(time=datetime.now(UTC), feature=FEATURE, answer="x", review=review)

    assert reviewed_answer(req({"answer": '{"intent": "refund"}'})) == {"intent": "refund"}
    assert reviewed_answer(req({"answer": {"intent": "refund"}})) == {"intent": "refund"}
    assert reviewed_answer(req({"answer": "refund"})) == "refund"
    assert reviewed_answer(req({"answer": "  "})) is None
    assert reviewed_answer(req(None)) is None


def _adapter(folder: Path, **train: Any) -> str:
    """An adapter folder's manifest as `tunewise train` writes it (the recorded config)."""
    from tunewise.train.config import TrainConfig

    folder.mkdir(parents=True)
    config = TrainConfig.model_validate(train).model_dump(mode="json")
    (folder / "manifest.json").write_text(json.dumps({"base_model": "tiny", "config": config}))
    return str(folder)


def test_warm_starts_train_at_a_fifth_of_the_first_generations_rate(tmp_path: Path) -> None:
    from tunewise.monitor.config import RetrainConfig
    from tunewise.monitor.retrain import next_train

    v1 = _adapter(tmp_path / "v1", learning_rate=1e-3)
    v2 = _adapter(tmp_path / "v2", learning_rate=2e-4, init_adapter=v1)
    warm, fresh = RetrainConfig(), RetrainConfig(warm_start=False)
    assert (next_train(v1, warm).learning_rate, next_train(v1, warm).init_adapter) == (
        pytest.approx(2e-4),
        v1,
    )
    # Generation 3 continues from v2 at the same rate, not a fifth of a fifth ...
    assert (next_train(v2, warm).learning_rate, next_train(v2, warm).init_adapter) == (
        pytest.approx(2e-4),
        v2,
    )
    # ... and a fresh start trains at the first generation's full rate.
    assert (next_train(v2, fresh).learning_rate, next_train(v2, fresh).init_adapter) == (1e-3, None)
    # Full fine-tunes have no adapter to continue from.
    full = _adapter(tmp_path / "full", method="full", learning_rate=5e-5)
    assert (next_train(full, warm).learning_rate, next_train(full, warm).init_adapter) == (
        5e-5,
        None,
    )
    # An earlier generation that is gone: the last known rate is the first one.
    v1_gone = _adapter(tmp_path / "v2b", learning_rate=3e-4, init_adapter=str(tmp_path / "gone"))
    assert next_train(v1_gone, warm).learning_rate == pytest.approx(6e-5)
