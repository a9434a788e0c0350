"""One controller per feature: the lease (taken, renewed, expired, fenced), a race of processes
for it on SQLite and PostgreSQL, and a second process that leaves a held rollout alone until the
server holding it stops."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from rollout_helpers import drive, rollout_state, until

from tunewise.serve.rollout import lease
from tunewise.store import get_engine, transaction
from tunewise.store.base import utcnow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lease.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_lease_is_taken_renewed_expires_and_fences(any_url: str) -> None:
    engine, ttl, now = get_engine(any_url), timedelta(seconds=30), utcnow()
    assert lease.acquire(engine, "support", "a", ttl, now) is None
    assert lease.acquire(engine, "support", "b", ttl, now) == "a"  # held: hands off
    assert (
        lease.acquire(engine, "support", "a", ttl, now + timedelta(seconds=20)) is None
    )  # renewed
    assert lease.acquire(engine, "support", "b", ttl, now + timedelta(seconds=40)) == "a"
    later = now + timedelta(seconds=51)  # a's renewal expired
    assert lease.acquire(engine, "support", "b", ttl, later) is None
    with transaction(engine) as s:  # a, stalled past its expiry, may no longer act
        assert not lease.holds(s, "support", "a", later)
    with transaction(engine) as s:
        assert lease.holds(s, "support", "b", later)
    lease.release(engine, "support", "b")
    assert lease.acquire(engine, "support", "c", ttl) is None  # released: taken at once
    assert lease.acquire(engine, "other", "b", ttl) is None  # one lease per feature


def _contend(url: str, name: str, start: object, out: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    got = lease.acquire(get_engine(url), "support", name, timedelta(seconds=60))
    out.put((name, got))  # type: ignore[attr-defined]


def test_processes_racing_for_the_lease_get_one_holder(any_url: str) -> None:
    get_engine(any_url)  # migrate once, before the race
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_contend, args=(any_url, f"p{i}", start, out)) for i in range(4)]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    winners = [name for name, other in results if other is None]
    assert len(winners) == 1
    assert all(other == winners[0] for name, other in results if name != winners[0])


def _tick_process(url: str) -> list[dict]:  # type: ignore[type-arg]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "tunewise", "rollout", "tick", "support", "--db", url, "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_second_process_does_not_act_on_a_rollout_the_server_holds(world) -> None:  # type: ignore[no-untyped-def]
    from test_ramp import start

    url = world["url"]
    gw = world["gateway"](rollout={"lease": "60s"})
    start(url, "sup-v2", min_requests=10_000)  # holds forever: nothing to decide
    drive(gw, 20)
    server = until(lambda: rollout_state(url)["lease"]["holder"], timeout=30)
    [other] = _tick_process(url)
    assert other["outcome"] == "lease_held" and other["detail"] == server
    acted = {d["by"] for d in rollout_state(url)["decisions"] if d["action"] != "started"}
    assert acted == {f"rollout-controller {server}"}  # the server's holds, nothing from the other
    gw.stop()  # shutting down releases the lease: the next process takes over at once
    [taken] = _tick_process(url)
    assert taken["outcome"] in {"wait", "held"}, taken
    assert rollout_state(url)["lease"]["holder"] != server
