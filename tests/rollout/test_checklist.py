"""The pre-deploy checklist: each item found in the registry (with where it came from) or missing
(with the command that fills it); `tunewise rollout start` refuses while one is missing, and
`--force --reason` is recorded."""

from __future__ import annotations

import json

from rollout_helpers import gate

from tunewise.serve.flags import set_flag
from tunewise.serve.routing import Flag
from tunewise.store import get_engine


def test_a_ready_feature_has_every_item_with_its_source(world, cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("checklist", "support", "sup-v2", "--db", world["url"], "--json")
    assert out.exit_code == 0, out.output
    items = {i["name"]: i for i in json.loads(out.output)["items"]}
    assert len(items) == 10 and all(i["found"] for i in items.values())
    assert items["dataset"]["value"].startswith("1.0.0 sha256 ")
    assert items["decision_record"]["source"].endswith("sup-v2/decision.json")
    assert "fine_tune" in items["decision_record"]["value"]
    assert "8 safety case(s), none worse" in items["safety"]["value"]
    assert (
        items["cost"]["value"]
        == "training $1.25 on openai:gpt-4o-mini; inference $90.00 -> $40.00 a month"
    )
    assert items["rollback_target"]["value"] == "sup-v1 (files verified)"
    assert (
        items["owner"]["value"] == "ana@example.com"
        and "registry event" in items["owner"]["source"]
    )


def test_missing_items_block_the_start_and_name_their_commands(world, cli) -> None:  # type: ignore[no-untyped-def]
    url, reg = world["url"], world["reg"]
    # a second feature: a control, a candidate with a blocked gate, no recorded items, flag on
    reg.record_gate(
        gate("sup-v1", "base", "billing"),
        feature="billing",
        baseline="HuggingFaceTB/SmolLM2-135M-Instruct",
    )
    reg.promote("sup-v1", feature="billing")
    reg.record_gate(gate("sup-v2", "sup-v1", "billing", passed=False), feature="billing")
    set_flag(get_engine(url), "billing", Flag(1000), by="bob")
    out = cli("checklist", "billing", "sup-v2", "--db", url)
    assert out.exit_code == 1
    text = " ".join(out.output.split())
    for fix in (
        "tunewise flags set billing canary=0",
        "tunewise checklist billing --record owner=",
        "tunewise registry record-gate REPORT --feature billing",
    ):
        assert fix in text, fix
    refused = cli("rollout", "start", "sup-v2", "--feature", "billing", "--db", url)
    assert refused.exit_code == 11
    msg = " ".join(refused.output.split())
    assert "4 missing item(s)" in msg and "owner: missing" in msg and "canary=0" in msg
    # filling items from the CLI: owner and trigger recorded, the flag set off
    filled = cli("checklist", "billing", "sup-v2", "--db", url, "--record", "owner=bob@example.com",
                 "--record", "retrain_trigger=weekly monitor --check")  # fmt: skip
    assert "bob@example.com" in filled.output
    set_flag(get_engine(url), "billing", Flag(0), by="bob")
    still = cli("rollout", "start", "sup-v2", "--feature", "billing", "--db", url)
    assert still.exit_code == 11 and "eval report" in " ".join(still.output.split())
    forced = cli("rollout", "start", "sup-v2", "--feature", "billing", "--db", url, "--force",
                 "--reason", "hotfix approved by the on-call", "--json")  # fmt: skip
    assert forced.exit_code == 0, forced.output
    record = json.loads(forced.output)["checklist"]
    assert record["forced"] and record["missing"] == ["eval_report"]
    assert record["reason"] == "hotfix approved by the on-call"
    started = reg.events(feature="billing", kind="rollout.started")[0]
    assert "checklist forced (eval_report): hotfix approved" in started["detail"]["reason"]


def test_force_needs_a_reason(world, cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("rollout", "start", "sup-v2", "--feature", "support", "--db", world["url"], "--force")
    assert out.exit_code == 2 and "--force needs --reason" in out.output


def test_the_decision_record_of_a_tunewise_run_is_found(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`tunewise run` keeps decision.json in its `decide/` stage, above the registered folder: the
    fine-tune's `train/adapter` and the classifier's `baseline/classifier/model`."""
    from tunewise.artifacts import atomic_write_json
    from tunewise.registry.tables import Model
    from tunewise.serve.rollout.checklist import _decision

    run = tmp_path / "runs" / "sup"
    atomic_write_json(run / "decide" / "decision.json", {"recommendation": "classifier"})
    atomic_write_json(run / "summary.json", {"details": {"baseline": {"zero-shot": 0.0}}})
    for folder in (run / "train" / "adapter", run / "baseline" / "classifier" / "model"):
        folder.mkdir(parents=True)
        item = _decision("sup", Model(adapter_path=str(folder)), {})
        assert item.found and item.source == str(run / "decide" / "decision.json")
        assert item.value == "recommendation: classifier; variants without training zero-shot 0.0%"
    assert not _decision("sup", Model(adapter_path=str(tmp_path / "elsewhere")), {}).found
