"""Driving a rollout by hand: the admin HTTP routes (admin key), pause/resume/abort from the CLI,
the kill switch and a share changed by hand."""

from __future__ import annotations

import json

import httpx
from rollout_helpers import drive, rollout_state, until

from tunewise.serve.flags import flag_history
from tunewise.serve.keys import create_key
from tunewise.store import get_engine

START = {"model": "sup-v2", "feature": "support", "steps": "50,100", "interval": "1s",
         "min_requests": 10_000}  # fmt: skip


def test_admin_routes_start_pause_and_refuse_a_second_rollout(world, cli) -> None:  # type: ignore[no-untyped-def]
    url = world["url"]
    admin, _ = create_key(get_engine(url), "ops", admin=True, by="test")
    app, _ = create_key(get_engine(url), "app", by="test")
    gw = world["gateway"]()
    api = gw.url + "/v1/tunewise/rollouts"
    as_app = httpx.post(api, json=START, headers={"Authorization": f"Bearer {app}"})
    assert as_app.status_code == 403 and as_app.json()["error"]["code"] == "admin_key_required"
    ops = {"Authorization": f"Bearer {admin}"}
    started = httpx.post(api, json=START, headers=ops)
    assert started.status_code == 200, started.text
    assert started.json()["percent"] == 50 and started.json()["started_by"] == "key:ops"
    again = httpx.post(api, json=START, headers=ops)
    assert again.status_code == 409 and "abort it first" in again.json()["error"]["message"]
    bad = httpx.post(api, json={**START, "steps": "50,20"}, headers=ops)
    assert bad.status_code == 400 and "larger than the one before" in bad.json()["error"]["message"]
    drive(gw, 20, key=app)
    paused = httpx.post(api + "/support/pause", json={"reason": "investigating"}, headers=ops)
    assert paused.json()["state"] == "paused"
    assert (
        httpx.get(api + "/support", headers=ops).json()["decisions"][-1]["reason"]
        == "investigating"
    )
    resumed = cli("rollout", "resume", "support", "--db", url, "--json")
    assert json.loads(resumed.output)["state"] == "running"
    status = cli("rollout", "status", "support", "--db", url)
    assert status.exit_code == 0 and "RUNNING" in status.output and "paused" in status.output
    aborted = cli("rollout", "abort", "support", "--db", url, "--reason", "wrong model")
    assert aborted.exit_code == 0 and "aborted" in aborted.output
    st = rollout_state(url)
    assert st["state"] == "aborted" and st["decisions"][-1]["action"] == "aborted"
    assert flag_history(get_engine(url), "support")[-1]["canary_percent"] == 0
    assert cli("rollout", "abort", "support", "--db", url).exit_code == 11  # nothing running
    listed = httpx.get(api, headers=ops).json()["data"]
    assert [r["state"] for r in listed] == ["aborted"]
    for r in (
        httpx.get(api + "/billing", headers=ops),
        httpx.post(api + "/support/pause", headers=ops),
    ):
        assert r.status_code == 404 and r.json()["error"]["code"] == "rollout_not_found", r.text


def test_the_kill_switch_aborts_and_a_share_set_by_hand_pauses(world, cli) -> None:  # type: ignore[no-untyped-def]
    url = world["url"]
    gw = world["gateway"]()
    assert cli("rollout", "start", "sup-v2", "--feature", "support", "--steps", "50,100",
               "--interval", "1s", "--min-requests", "10000", "--db", url).exit_code == 0  # fmt: skip
    assert cli("flags", "set", "support", "canary=10", "--db", url).exit_code == 0
    st = until(lambda: rollout_state(url)["state"] == "paused" and rollout_state(url), timeout=30)
    assert "set by hand to 10%" in st["outcome"]
    assert cli("rollout", "resume", "support", "--db", url).exit_code == 0
    assert flag_history(get_engine(url), "support")[-1]["canary_percent"] == 50  # set back
    drive(gw, 10)
    assert cli("flags", "set", "support", "canary=off", "--db", url).exit_code == 0
    st = until(lambda: rollout_state(url)["state"] == "aborted" and rollout_state(url), timeout=30)
    assert "kill switch" in st["outcome"]
    history = flag_history(get_engine(url), "support")
    assert history[-1]["canary_percent"] == 0 and not history[-1]["killed"]
