"""Shadow traffic (users see control only; the candidate's latency and failures never reach them;
the comparison is recorded and judged) and user feedback joined to the arm that answered."""

from __future__ import annotations

import statistics

import httpx
import pytest
from rollout_helpers import drive, rollout_state, set_reply, until
from test_ramp import FAST

from tunewise.serve.keys import create_key
from tunewise.serve.rollout.api import launch
from tunewise.serve.rollout.config import RolloutConfig
from tunewise.serve.rollout.context import RolloutContext
from tunewise.store import get_engine

REFUND_LOW = '{"intent": "refund", "priority": "low"}'
REFUND_HIGH = '{"intent": "refund", "priority": "high"}'


def start(url: str, model: str, shadow: float = 0.0, **overrides: object) -> dict:  # type: ignore[type-arg]
    cfg = RolloutConfig.model_validate({**FAST, "tick": "0.2s", **overrides})
    ctx = RolloutContext(config=cfg, label_field="intent")
    return launch(get_engine(url), model, "support", ctx, shadow=shadow, by="ana")


def test_shadow_leaves_user_latency_unchanged_and_records_the_comparison(world) -> None:  # type: ignore[no-untyped-def]
    url = world["url"]
    gw = world["gateway"](rollout={"shadow_concurrency": 64})
    set_reply(world["main"], "sup-v1", reply=REFUND_LOW)
    # a slow candidate: 2 s, far above what a loaded CI machine adds to one request (1.03 s seen)
    set_reply(world["flaky"], "sup-flaky", reply=REFUND_HIGH, delay_s=2.0)
    before = drive(gw, 40, workers=2)
    start(url, "sup-flaky", shadow=100, min_requests=40)
    during = drive(gw, 30, workers=2)
    # users only ever see control, and never wait for the candidate's 2 s: had the gateway
    # waited, every answer would take at least 2 s
    assert all(r.arm == "control" and r.status == 200 for r in during)
    assert max(r.latency_s for r in during) < 2.0
    assert (
        statistics.median(r.latency_s for r in during)
        < statistics.median(r.latency_s for r in before) + 0.3
    )

    def shadow_figures() -> dict | None:
        """The shadow stage's figures: live while it runs, or as its passing decision recorded
        them (on an idle machine the stage can pass before the first look)."""
        st = rollout_state(url)
        cur = st["current"] or {}
        if cur.get("shadow", {}).get("pairs", 0) >= 25:
            return cur
        passed = [d for d in st["decisions"] if d["action"] == "step_passed" and d["percent"] == 0]
        return passed[0]["figures"] if passed else None

    cur = until(shadow_figures, timeout=180, step=lambda: drive(gw, 10))
    shadow = cur["shadow"]
    assert shadow["agreement"] == 1.0  # same intent, different priority: agree on the label
    assert shadow["candidate_errors"] == 0 and shadow["candidate_p95_ms"] > 1900
    json_valid = next(m for m in cur["metrics"] if m["metric"] == "json_valid")
    assert json_valid["control"] == json_valid["canary"] == 1.0
    # enough pairs and the interval passed: the shadow stage passes to the first live step, where
    # real users now wait for the slow candidate: its latency fails it at once
    # generous deadlines: 13 s alone, over 60 s with the whole suite on two loaded cores
    st = until(lambda: rollout_state(url)["state"] == "rolled_back" and rollout_state(url),
               timeout=180, step=lambda: drive(gw, 10))  # fmt: skip
    decided = [d for d in st["decisions"] if d["action"] != "held"]  # held: waiting for pairs
    actions = [(d["action"], d["percent"]) for d in decided]
    assert actions == [
        ("started", 0),
        ("step_passed", 0),
        ("step_started", 20),
        ("rolled_back", 20),
    ]
    passed = decided[1]
    assert (
        passed["reason"].startswith("shadow 100% passed")
        and passed["figures"]["shadow"]["pairs"] >= 40
    )
    assert "slow_share" in st["outcome"]


def test_a_candidate_failing_in_shadow_is_rolled_back_before_any_user_sees_it(world) -> None:  # type: ignore[no-untyped-def]
    url = world["url"]
    gw = world["gateway"]()
    set_reply(world["flaky"], "sup-flaky", error_rate=1.0, status=500)
    start(url, "sup-flaky", shadow=50)
    st = until(lambda: rollout_state(url)["state"] == "rolled_back" and rollout_state(url),
               timeout=60, step=lambda: drive(gw, 20))  # fmt: skip
    assert "shadow 50% failed" in st["outcome"] and "error_rate" in st["outcome"]
    assert {d["percent"] for d in st["decisions"]} == {0.0}  # no live step was ever entered


def _feedback(gw: object, key: str, **body: object) -> httpx.Response:
    return httpx.post(
        gw.url + "/v1/feedback", json=body, headers={"Authorization": f"Bearer {key}"}
    )  # type: ignore[attr-defined]


def test_feedback_counts_for_the_arm_that_answered(world) -> None:  # type: ignore[no-untyped-def]
    url = world["url"]
    key, _ = create_key(get_engine(url), "app", by="test")
    gw = world["gateway"]()
    start(url, "sup-v2", steps=[50, 100], min_requests=10_000)  # holds: only feedback can decide
    replies = [r for r in drive(gw, 60, key=key) if r.status == 200]
    for r in replies:  # users dislike the canary's answers and like control's
        good = r.arm == "control"
        resp = _feedback(gw, key, response_id=r.response_id, rating=1.0 if good else 0.0,
                         outcome="resolved" if good else "escalated")  # fmt: skip
        assert resp.status_code == 200, resp.text
        assert resp.json()["arm"] == r.arm
    st = until(
        lambda: rollout_state(url)["state"] == "rolled_back" and rollout_state(url), timeout=30
    )
    arms = st["decisions"][-1]["figures"]["arms"]  # as soon as each arm had min_samples (10)
    assert arms["canary"]["ratings"] >= 10 and arms["canary"]["rating"] == 0.0
    assert arms["control"]["rating"] == 1.0 and arms["canary"]["bad_outcome"] == 1.0
    failed = {
        m["metric"] for m in st["decisions"][-1]["figures"]["metrics"] if m["verdict"] == "fail"
    }
    assert failed <= {"rating", "bad_outcome"} and failed


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"response_id": "chatcmpl-nope", "rating": 1}, 404, "response_id"),
        ({"response_id": "chatcmpl-x"}, 400, "rating"),
        ({"response_id": "chatcmpl-x", "rating": 2}, 400, "rating"),
        ({"response_id": "chatcmpl-x", "rating": 1, "extra": True}, 400, "extra"),
    ],
)
def test_bad_feedback_gets_openai_shaped_errors(world, body, status, param) -> None:  # type: ignore[no-untyped-def]
    key, _ = create_key(get_engine(world["url"]), "app", by="test")
    gw = world["gateway"]()
    resp = _feedback(gw, key, **body)
    assert resp.status_code == status
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["param"] == param
    assert _feedback(gw, "wrong-key", response_id="chatcmpl-x", rating=1).status_code == 401
