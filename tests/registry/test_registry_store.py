"""The registry API on SQLite: registration from real manifests, gated promotion, rollback,
deprecation, lineage, staleness, routes and tamper detection."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from registry_helpers import (
    BASE_HASH,
    BASE_ID,
    GOLDEN,
    GOLDEN_ROW,
    eval_report,
    gate,
    make_adapter,
    make_dataset,
    side,
)

from tunewise.artifacts import sha256_file
from tunewise.errors import RegistryError, StoreError
from tunewise.evaluate.golden import load_golden
from tunewise.registry import Registry
from tunewise.registry.tables import utcnow


def test_register_dataset_and_adapter_from_manifests(tmp_path: Path, reg: Registry) -> None:
    ds = make_dataset(tmp_path)
    row = reg.register_dataset(ds)
    assert row.manifest_sha256 == sha256_file(ds / "manifest.json")
    assert row.semver == "1.0.0"
    assert reg.register_dataset(ds / "manifest.json").id == row.id  # idempotent

    ad = make_adapter(tmp_path, "a1", ds, job_id="job-42")
    m = reg.register_model(ad)
    assert (m.name, m.kind, m.base_id, m.base_hash) == ("a1", "adapter", BASE_ID, BASE_HASH)
    assert m.dataset_id == row.id
    assert reg.register_model(ad).id == m.id  # same content, same name: no duplicate
    info = reg.lineage("a1")
    assert info["dataset"]["semver"] == "1.0.0"
    assert info["job"] == {**info["job"], "backend": "local", "local_job_id": "job-42"}


def test_provider_model_and_job(tmp_path: Path, reg: Registry) -> None:
    ds = make_dataset(tmp_path)
    reg.register_job("openai", provider_job_id="ftjob-abc", dataset=str(ds), status="succeeded")
    m = reg.register_model(
        provider_model_id="ft:gpt-4o-mini-2024-07-18:acme::x1",
        base="gpt-4o-mini-2024-07-18",
        dataset=str(ds),
        job="ftjob-abc",
    )
    assert m.kind == "provider"
    info = reg.lineage("ft:gpt-4o-mini-2024-07-18:acme::x1")
    assert info["job"]["provider_job_id"] == "ftjob-abc" and info["job"]["status"] == "succeeded"
    assert info["dataset"]["manifest_sha256"] == sha256_file(ds / "manifest.json")
    with pytest.raises(RegistryError, match="needs its base model"):
        reg.register_model(provider_model_id="ft:other")


def test_name_clash_with_different_content_refused(
    tmp_path: Path, reg: Registry, world: dict[str, Path]
) -> None:
    other = make_adapter(tmp_path / "elsewhere", "m1", world["dataset"], seed=9)
    with pytest.raises(RegistryError, match="already registered as 'm1'"):
        reg.register_model(other)


def test_promote_refused_without_gate_and_allowed_with_passing_one(
    reg: Registry, world: dict[str, Path]
) -> None:
    with pytest.raises(RegistryError, match="no gate decision is recorded"):
        reg.promote("m1", "support", "production", by="ana")
    reg.record_gate(gate("m1", "base"), feature="support")
    event = reg.promote("m1", "support", "production", reason="beats base", by="ana")
    assert (event["model"], event["previous"], event["forced"], event["by"]) == (
        "m1",
        None,
        False,
        "ana",
    )
    assert reg.holder("support") == "m1"

    # m2 gated against the base, not against the holder m1: refused, with the reason.
    reg.record_gate(gate("m2", BASE_ID), feature="support")
    with pytest.raises(RegistryError, match="against the current holder 'm1'"):
        reg.promote("m2", "support", "production")
    reg.record_gate(gate("m2", "m1", decision="block"), feature="support")
    with pytest.raises(RegistryError, match=r"blocked it \(failed: primary_lift\)"):
        reg.promote("m2", "support", "production")
    reg.record_gate(gate("m2", "m1"), feature="support")
    assert reg.promote("m2", "support", "production", by="bo")["previous"] == "m1"


def test_gate_on_old_golden_set_does_not_count(reg: Registry, world: dict[str, Path]) -> None:
    reg.record_gate(gate("m1", "base", golden="1" * 64), feature="support")
    reg.record_gate(gate("m2", "base", golden="2" * 64), feature="support")  # newer golden set
    with pytest.raises(RegistryError, match="on the current golden set 222222222222"):
        reg.promote("m1", "support")
    reg.promote("m2", "support")


def test_configured_golden_file_defines_current_golden(
    tmp_path: Path, sqlite_url: str, world: dict[str, Path]
) -> None:
    golden = tmp_path / "golden.jsonl"
    golden.write_text(json.dumps(GOLDEN_ROW) + "\n")
    with Registry(sqlite_url, golden=golden) as reg:
        reg.record_gate(gate("m1", "base", golden=GOLDEN), feature="support")
        with pytest.raises(RegistryError, match="configured golden set"):
            reg.promote("m1", "support")
        # The eval stage's golden hash: canonical JSON of the cases, not the file's bytes.
        reg.record_gate(gate("m1", "base", golden=load_golden(golden).hash), feature="support")
        reg.promote("m1", "support")


def test_force_needs_reason_and_is_recorded(reg: Registry, world: dict[str, Path]) -> None:
    with pytest.raises(RegistryError, match="--force needs --reason"):
        reg.promote("m1", "support", force=True)
    event = reg.promote(
        "m1", "support", "canary", force=True, reason="hotfix for incident 12", by="oncall"
    )
    assert event["forced"] and event["reason"] == "hotfix for incident 12"
    [entry] = reg.history("support", "canary")
    assert (entry["forced"], entry["by"], entry["reason"]) == (
        True,
        "oncall",
        "hotfix for incident 12",
    )


def test_rollback_is_one_step_and_repeatable(
    tmp_path: Path, reg: Registry, world: dict[str, Path]
) -> None:
    m3 = make_adapter(tmp_path / "runs", "m3", world["dataset"], seed=3)
    reg.register_model(m3)
    for name in ("m1", "m2", "m3"):
        reg.promote(name, "support", force=True, reason="setup")
    assert reg.rollback("support", reason="bad answers")["model"] == "m2"
    assert reg.rollback("support")["model"] == "m1"
    with pytest.raises(RegistryError, match="no previous holder"):
        reg.rollback("support")
    with pytest.raises(RegistryError, match="never been promoted"):
        reg.rollback("billing")
    history = reg.history("support")
    assert [(e["action"], e["previous"], e["model"]) for e in history] == [
        ("promote", None, "m1"),
        ("promote", "m1", "m2"),
        ("promote", "m2", "m3"),
        ("rollback", "m3", "m2"),
        ("rollback", "m2", "m1"),
    ]
    assert history[3]["reason"] == "bad answers"


def test_deprecate(reg: Registry, world: dict[str, Path]) -> None:
    reg.promote("m1", "support", force=True, reason="setup")
    with pytest.raises(RegistryError, match="still serves support@production"):
        reg.deprecate("m1")
    m = reg.deprecate("m2", reason="superseded", by="ana")
    assert m.deprecated_by == "ana"
    with pytest.raises(RegistryError, match="deprecated and cannot be promoted"):
        reg.promote("m2", "support", force=True, reason="x")
    assert [m["deprecated"] for m in reg.list_models()] == [False, True]


def test_rollback_to_deprecated_refused(reg: Registry, world: dict[str, Path]) -> None:
    reg.promote("m1", "support", "canary", force=True, reason="setup")
    reg.promote("m2", "support", "canary", force=True, reason="setup")
    reg.deprecate("m1")
    with pytest.raises(RegistryError, match="it is deprecated"):
        reg.rollback("support", "canary")


def test_lineage_chain(reg: Registry, world: dict[str, Path]) -> None:
    reg.record_eval("m1", golden_sha256=GOLDEN, variant="candidate", metrics={"accuracy": 0.9})
    reg.record_gate(gate("m1", "base"), feature="support")
    reg.promote("m1", "support", reason="first release", by="ana")
    info = reg.lineage("support@production")
    assert info["dataset"]["location"] == str(world["dataset"].resolve())
    assert info["job"]["local_job_id"] == "job-m1"
    assert info["model"]["model"] == "m1" and info["model"]["aliases"] == ["support@production"]
    assert info["evals"][0]["metrics"] == {"accuracy": 0.9}
    assert info["gates"][0]["decision"] == "pass" and info["gates"][0]["reference_is_base"]
    assert info["alias_events"][0]["reason"] == "first release"
    json.dumps(info)  # JSON-ready


def test_stale_models(reg: Registry, world: dict[str, Path]) -> None:
    assert reg.stale(90) == []
    later = utcnow() + timedelta(days=100)
    assert [r["model"] for r in reg.stale(90, now=later)] == ["m1", "m2"]
    reg.record_eval("m1", golden_sha256=GOLDEN, variant="candidate", metrics={"accuracy": 0.8})
    stale = reg.stale(90, now=later)
    assert [r["model"] for r in stale] == [
        "m1",
        "m2",
    ]  # evaluated today, still 100 days before `later`
    assert stale[0]["last_evaluated"] is not None and stale[1]["last_evaluated"] is None
    assert [r["model"] for r in reg.stale(90, now=utcnow() + timedelta(days=91))] == ["m1", "m2"]
    assert reg.stale(120, now=later) == []


def test_routing_table(reg: Registry, world: dict[str, Path]) -> None:
    reg.register_model(provider_model_id="ft:gpt-4o-mini:acme::z9", base="gpt-4o-mini")
    reg.promote("m1", "support", force=True, reason="setup")
    reg.promote("ft:gpt-4o-mini:acme::z9", "billing", "canary", force=True, reason="setup")
    routes = reg.routing_table()["routes"]
    assert set(routes) == {"support@production", "billing@canary"}
    assert routes["support@production"]["serving"]["adapter_path"] == str(world["m1"].resolve())
    assert routes["support@production"]["serving"]["base"]["hash"] == BASE_HASH
    assert routes["billing@canary"]["serving"]["provider_model_id"] == "ft:gpt-4o-mini:acme::z9"


def test_tampered_adapter_detected(reg: Registry, world: dict[str, Path]) -> None:
    reg.promote("m1", "support", force=True, reason="setup")
    (world["m1"] / "adapter_model.safetensors").write_bytes(b"tampered")
    for call in (
        lambda: reg.show("m1"),
        reg.routing_table,
        lambda: reg.promote("m1", "support", "canary", force=True, reason="x"),
    ):
        with pytest.raises(RegistryError, match=r"m1.*changed since registration"):
            call()
    assert reg.show("m1", verify=False)["model"]["model"] == "m1"


def test_tampered_or_missing_dataset_detected(reg: Registry, world: dict[str, Path]) -> None:
    (world["dataset"] / "train.jsonl").write_text("{}\n")
    with pytest.raises(RegistryError, match=r"train.jsonl changed since registration"):
        reg.show("m1")
    (world["dataset"] / "manifest.json").write_text("{}")
    with pytest.raises(RegistryError, match="sha256 changed since registration"):
        reg.promote("m1", "support", force=True, reason="x")


def test_dataset_changed_after_training_refused(tmp_path: Path, reg: Registry) -> None:
    ds = make_dataset(tmp_path)
    ad = make_adapter(tmp_path, "a1", ds)
    (ds / "manifest.json").write_text(json.dumps({"semver": "1.0.1"}))
    with pytest.raises(RegistryError, match="the dataset changed after training"):
        reg.register_model(ad)


def test_gate_from_report_file(tmp_path: Path, reg: Registry, world: dict[str, Path]) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"gate": gate("m1", "base"), "golden_sha256": GOLDEN}))
    g = reg.record_gate(report, feature="support")
    assert g.passed and g.report_sha256 == sha256_file(report)
    with pytest.raises(RegistryError, match="neither a registered model nor the base"):
        reg.record_gate(gate("m1", "some-other-model"))
    with pytest.raises(RegistryError, match="decision"):
        reg.record_gate({**gate("m1", "base"), "decision": "maybe"})


def test_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNEWISE_REGISTRY_URL", f"sqlite:///{tmp_path / 'env.db'}")
    with Registry() as reg:  # the older variable still works
        assert reg.url.endswith("env.db")
    monkeypatch.setenv("TUNEWISE_DB_URL", f"sqlite:///{tmp_path / 'one.db'}")
    with Registry() as reg:  # and the one database's variable wins
        assert reg.url.endswith("one.db")
    monkeypatch.delenv("TUNEWISE_DB_URL")
    monkeypatch.delenv("TUNEWISE_REGISTRY_URL")
    monkeypatch.setenv("TUNEWISE_HOME", str(tmp_path / "home"))
    with Registry() as reg:
        assert reg.url == f"sqlite:///{(tmp_path / 'home' / 'tunewise.db').resolve()}"


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot open database nosuchdb://x"):
        Registry("nosuchdb://x")
    with pytest.raises(StoreError, match=r"(?s)cannot open database .*check the URL"):
        Registry("postgresql://nobody@127.0.0.1:1/none")


def test_register_run_records_model_and_gate(tmp_path: Path, reg: Registry) -> None:
    ds = make_dataset(tmp_path)
    ad = make_adapter(tmp_path / "runs", "run-7", ds)
    report = tmp_path / "report.json"
    report.write_text(json.dumps(gate(str(ad), "base")))
    m = reg.register_run(ad, report=report, feature="support")
    assert reg.promote(m.name, "support")["model"] == "run-7"
    info = reg.lineage("run-7")
    assert info["dataset"]["semver"] == "1.0.0" and info["gates"][0]["report_path"] == str(
        report.resolve()
    )


def test_eval_report_json_from_the_eval_stage(
    tmp_path: Path, reg: Registry, world: dict[str, Path]
) -> None:
    """The comparison report.json shape (candidate/base side summaries, golden.hash, gate)."""
    first = tmp_path / "first.json"
    first.write_text(json.dumps(eval_report(side("m1", world["m1"], 0.7), side("base", None, 0.1))))
    g = reg.record_gate(first, feature="support")
    assert (g.passed, g.reference, g.reference_model_id) == (True, "base", None)
    reg.promote("m1", "support")

    blocked = tmp_path / "blocked.json"
    blocked.write_text(
        json.dumps(eval_report(side("m2", world["m2"], 0.6), side("m1", world["m1"], 0.7), "block"))
    )
    g = reg.record_gate(blocked, feature="support")
    assert (g.passed, g.reference) == (False, "m1")
    with pytest.raises(RegistryError, match=r"failed: primary_lift"):
        reg.promote("m2", "support")

    better = tmp_path / "better.json"
    better.write_text(
        json.dumps(eval_report(side("m2", world["m2"], 0.8), side("m1", world["m1"], 0.7)))
    )
    reg.record_gate(better, feature="support")
    assert reg.promote("m2", "support")["previous"] == "m1"
    evals = reg.lineage("m2")["evals"]
    assert [e["metrics"] for e in evals] == [{"exact_match": 0.6}, {"exact_match": 0.8}]
    assert evals[-1]["report_sha256"] == sha256_file(better)
    assert reg.record_eval("m1", better, side="base").golden_sha256 == GOLDEN


def test_unregistered_report_model_is_a_clear_error(
    tmp_path: Path, reg: Registry, world: dict[str, Path]
) -> None:
    stray = make_adapter(tmp_path / "stray", "x9", world["dataset"], seed=7)
    report = eval_report(side("x9", stray, 0.9), side("base", None, 0.1))
    with pytest.raises(RegistryError, match="model 'x9' is not registered"):
        reg.record_gate(report)
    assert reg.record_gate(report, candidate="m1").candidate_id  # --candidate overrides
