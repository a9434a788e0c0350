"""Live quality per arm and day against eval values; triggers; the webhook against a real local
HTTP server; fired triggers recorded as registry events."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from monitor_helpers import Hook

from tunewise.monitor.config import TriggerConfig
from tunewise.monitor.quality import compare_with_eval, live_quality, live_scorers
from tunewise.monitor.requests import Request
from tunewise.monitor.triggers import call_webhook, evaluate_triggers
from tunewise.registry import Registry

T0 = datetime(2026, 5, 1, 9, tzinfo=UTC)
GOOD, BAD = '{"intent": "refund"}', "Sure! It is a refund."
SCHEMA = {"type": "object", "required": ["intent"], "properties": {"intent": {"enum": ["refund"]}}}


def _req(day: int, arm: str, answer: str | None, **kw: Any) -> Request:
    return Request(time=T0 + timedelta(days=day), feature="f", arm=arm, model=kw.pop("model", "m1"),
                   prompt="where is my money" if answer else None, answer=answer, **kw)  # fmt: skip


def test_quality_per_arm_and_day() -> None:
    reqs = [_req(0, "control", GOOD) for _ in range(10)]
    reqs += [_req(1, "control", GOOD if i < 6 else BAD, latency_ms=10.0 * i) for i in range(10)]
    reqs += [
        _req(1, "canary", "I'm sorry, but I can't help with that.", model="m2") for _ in range(4)
    ]
    reqs += [_req(1, "canary", None, model="m2", ok=False)]
    reqs += [_req(1, "control", None, scores={"json_valid": 0.0})]  # a score the gateway logged
    scorers = live_scorers([GOOD] * 10, SCHEMA)
    assert [s.name for s in scorers] == ["json_valid", "json_schema", "refusal", "hallucination"]
    q = live_quality(reqs, scorers, "m1")
    days = {(d["arm"], d["day"]): d for d in q["days"]}
    day2 = days[("control", "2026-05-02")]
    assert day2["requests"] == 11 and day2["metrics"]["json_valid"] == {"mean": 6 / 11, "n": 11}
    assert day2["metrics"]["json_schema"] == {"mean": 0.6, "n": 10}
    assert day2["latency_ms"] == {"p50": 40.0, "p95": 90.0}
    canary = q["arms"]["canary"]
    assert canary["requests"] == 5 and canary["error_rate"] == 0.2
    assert canary["metrics"]["refusal"]["mean"] == 0.0  # it refused
    assert q["model_rows_from"] == "model" and q["model_rows"]["requests"] == 21
    assert [s.name for s in live_scorers(["plain text answer"] * 5, SCHEMA)] == [
        "refusal",
        "hallucination",
    ]


def test_compare_with_eval_needs_a_real_drop() -> None:
    live = {"metrics": {"json_valid": {"mean": 0.80, "n": 200}, "refusal": {"mean": 0.93, "n": 200},
                        "hallucination": {"mean": 0.5, "n": 10}, "other": {"mean": 0.1, "n": 500}}}  # fmt: skip
    got = {
        c["metric"]: c
        for c in compare_with_eval(
            live, {"json_valid": 0.97, "refusal": 0.95, "hallucination": 1.0}, 0.05
        )
    }
    assert got["json_valid"]["below"] and got["json_valid"]["drop"] == pytest.approx(0.17)
    assert not got["refusal"]["below"]  # within the margin
    assert not got["hallucination"]["below"]  # too few rows to say
    assert "other" not in got  # no eval value


def _report(**over: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "feature": "f", "model": "m1", "window": {"since": "a", "until": "b"},
        "traffic": {"reviewed": 3},
        "input_drift": {"classifier": {"drifted": False, "auc": 0.51, "threshold": 0.55, "null_q95": 0.54},
                        "outliers": {"share": 0.05}},
        "output_drift": {"labels": {"psi": 0.03, "psi_band": "stable"}},
        "quality": {"vs_eval": [{"metric": "json_valid", "live": 0.96, "eval": 0.97, "n": 300, "below": False}]},
        "staleness": {"model_age_days": 10.0, "days_since_eval": 10.0, "data_age_days": 12.0},
    }  # fmt: skip
    for path, value in over.items():
        *head, last = path.split("__")
        node = report
        for key in head:
            node = node[key]
        node[last] = value
    return report


@pytest.mark.parametrize(
    ("override", "trigger"),
    [
        ({"input_drift__classifier__drifted": True}, "input_drift"),
        ({"input_drift__outliers__share": 0.3}, "outliers"),
        ({"output_drift__labels__psi": 0.4}, "label_mix"),
        (
            {
                "quality__vs_eval": [
                    {"metric": "json_valid", "live": 0.8, "eval": 0.97, "n": 300, "below": True}
                ]
            },
            "quality:json_valid",
        ),
        ({"staleness__days_since_eval": 120.0}, "age:days_since_eval"),
        ({"traffic__reviewed": 250}, "reviewed_rows"),
    ],
)
def test_each_trigger_fires_alone(override: dict[str, Any], trigger: str) -> None:
    assert evaluate_triggers(_report(), TriggerConfig()) == []
    fired = evaluate_triggers(_report(**override), TriggerConfig())
    assert [f["trigger"] for f in fired] == [trigger]


def test_triggers_switched_off() -> None:
    off = TriggerConfig(drift=False, outlier_share=None, label_psi=None, quality_margin=None,
                        max_age_days=None, reviewed_rows=None)  # fmt: skip
    report = _report(input_drift__classifier__drifted=True, traffic__reviewed=10**6,
                     staleness__model_age_days=10**4)  # fmt: skip
    assert evaluate_triggers(report, off) == []


def test_webhook_posts_json(hook_url: str) -> None:
    assert call_webhook(hook_url, {"fired": [1]}, 5) == {"url": hook_url, "status": 204}
    assert Hook.received == [
        {"body": {"fired": [1]}, "type": "application/json", "report_on_disk": False}
    ]
    Hook.status = 500
    try:
        out = call_webhook(hook_url, {"x": 1}, 5)
    finally:
        Hook.status = 204
    assert out["status"] == 500 and "HTTP 500" in out["error"]
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = call_webhook(f"http://127.0.0.1:{port}/x", {}, 2)
    assert dead["status"] is None and "could not reach" in dead["error"]


def test_registry_events(tmp_path: Path) -> None:
    with Registry(f"sqlite:///{tmp_path / 'r.db'}") as reg:
        reg.register_model(
            provider_model_id="ft:gpt-4o-mini:acme::abc", base="gpt-4o-mini", name="m1"
        )
        first = reg.record_event(
            "monitor.trigger", feature="f", model="m1", detail={"fired": ["x"]}
        )
        reg.record_event("monitor.trigger", feature="g", model="unregistered")
        reg.record_event("retrain.start", feature="f")
        assert first["model"] == "m1" and first["detail"] == {"fired": ["x"], "model": "m1"}
        assert [e["id"] for e in reg.events(feature="f")] == [3, 1]
        assert [e["kind"] for e in reg.events(kind="monitor.trigger")] == ["monitor.trigger"] * 2
        assert reg.events(feature="g")[0]["model"] is None
