"""End to end on loopback with the real `openai` SDK and simulated users: a good candidate ramps
through every step and is promoted; a canary whose upstream fails 30% of requests is rolled back
at once with the figures in the registry; a step with too little traffic holds."""

from __future__ import annotations

import httpx
from rollout_helpers import drive, rollout_state, until

from tunewise.serve.flags import flag_history
from tunewise.serve.rollout.api import launch
from tunewise.serve.rollout.config import RolloutConfig
from tunewise.serve.rollout.context import RolloutContext
from tunewise.store import get_engine

FAST = {"steps": [20, 50, 100], "interval": "1s", "min_requests": 20, "min_samples": 10}


def start(url: str, model: str, **overrides: object) -> dict:  # type: ignore[type-arg]
    ctx = RolloutContext(config=RolloutConfig.model_validate({**FAST, "tick": "0.2s"}))
    return launch(get_engine(url), model, "support", ctx, overrides=dict(overrides), by="ana")


def finished(url: str) -> dict | None:  # type: ignore[type-arg]
    st = rollout_state(url)
    return st if st["state"] not in {"running", "shadow", "paused"} else None


def test_a_good_candidate_ramps_through_every_step_and_is_promoted(world, cli) -> None:  # type: ignore[no-untyped-def]
    """End to end A/A: sup-v2's answers differ from sup-v1's only in the model's name (same
    length, same scores, same server), so a false alarm would show here as a rollback."""
    gw, url = world["gateway"](), world["url"]
    start(url, "sup-v2")
    done = until(lambda: finished(url), timeout=120, step=lambda: drive(gw, 40))
    assert done["state"] == "promoted", done["outcome"]
    actions = [d["action"] for d in done["decisions"]]
    assert actions[0] == "started" and actions[-1] == "promoted"
    assert [d["percent"] for d in done["decisions"] if d["action"] == "step_passed"] == [
        20,
        50,
        100,
    ]
    assert "rolled_back" not in actions
    assert world["reg"].holder("support") == "sup-v2"
    # every figure is in the registry: lineage shows the rollout between the gate and the alias
    lineage = world["reg"].lineage("sup-v2", verify=False)
    kinds = [e["kind"] for e in lineage["events"]]
    assert kinds[0] == "rollout.started" and kinds[-1] == "rollout.promoted"
    passed = [e for e in lineage["events"] if e["kind"] == "rollout.step_passed"]
    arms = passed[0]["detail"]["figures"]["arms"]
    assert arms["canary"]["requests"] >= 20 and arms["control"]["requests"] >= 20
    assert [a["action"] for a in lineage["alias_events"]][-1] == "promote"
    # the share went 20 -> 50 -> 100 -> 0 on every server, recorded in the flag history
    shares = [h["canary_percent"] for h in flag_history(get_engine(url), "support")]
    assert shares == [20, 50, 100, 0]
    # the gateway now answers the feature with the promoted model
    control = lambda: httpx.get(gw.url + "/v1/models").json()["data"][0]["control"]  # noqa: E731
    until(lambda: control() == "sup-v2", timeout=5)
    tree = cli("registry", "--db", url, "lineage", "sup-v2", "--no-verify")
    assert tree.exit_code == 0, tree.output
    assert "rollout.step_passed" in tree.output and "rollout.promoted" in tree.output


def test_a_canary_failing_30_percent_is_rolled_back_with_the_figures(world) -> None:  # type: ignore[no-untyped-def]
    gw, url = world["gateway"](), world["url"]
    httpx.post(
        world["flaky"].url + "/_faults", json={"model": "sup-flaky", "error_rate": 0.3, "seed": 3}
    )
    # enough requests per step that a 30% failure rate is told from control's 0% with the
    # false-alarm budget split over 2 steps and 8 metrics (the default of 200 is more than enough)
    start(url, "sup-flaky", steps=[50, 100], min_requests=150)
    done = until(lambda: finished(url), timeout=120, step=lambda: drive(gw, 40))
    assert done["state"] == "rolled_back"
    last = done["decisions"][-1]
    assert last["action"] == "rolled_back" and "error_rate" in last["reason"]
    failed = {m["metric"]: m for m in last["figures"]["metrics"] if m["verdict"] == "fail"}
    err = failed["error_rate"]
    assert 0.15 < err["canary"] < 0.5 and err["control"] == 0 and err["difference"]["low"] > 0.01
    # the canary share is 0 at once; users keep getting answers from control
    replies = drive(gw, 30)
    until(lambda: all(r.arm == "control" for r in drive(gw, 10)) or None, timeout=5)
    assert all(r.status == 200 for r in replies)
    event = world["reg"].events(feature="support", kind="rollout.rolled_back")[0]
    assert (
        event["model"] == "sup-flaky"
        and event["detail"]["figures"]["metrics"] == last["figures"]["metrics"]
    )


def test_a_step_with_too_little_traffic_holds_instead_of_deciding(world) -> None:  # type: ignore[no-untyped-def]
    gw, url = world["gateway"](), world["url"]
    start(url, "sup-v2", min_requests=500)
    drive(gw, 30)
    st = until(lambda: [d for d in rollout_state(url)["decisions"] if d["action"] == "held"] or None,
               timeout=30, step=lambda: drive(gw, 5))  # fmt: skip
    held = st[0]
    assert "of the 500 requests a step needs" in held["reason"]
    state = rollout_state(url)
    assert state["state"] == "running" and state["percent"] == 20
    assert {d["action"] for d in state["decisions"]} == {"started", "held"}
    assert world["reg"].holder("support") == "sup-v1"
