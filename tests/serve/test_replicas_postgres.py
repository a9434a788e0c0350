"""Two `tunewise serve` processes on one PostgreSQL: every user gets the same arm from both, a
flag set once reaches both without a restart, and both write to the one request log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_helpers import BASE_ID, MSG, log_rows, registry_world, sdk
from typer.testing import CliRunner

from tunewise.cli import app as cli
from tunewise.serve.testing import ServerThread, free_port, scripted_app

REPO = Path(__file__).resolve().parents[2]


def start_replica(config: Path, url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [
        sys.executable,
        "-m",
        "tunewise",
        "serve",
        "--config",
        str(config),
        "--db",
        url,
        "--port",
        str(port),
    ]
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)


def wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"replica exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"replica on {port} did not start: {log.read_text()[-2000:]}")


@pytest.fixture
def replicas(pg_url: str, tmp_path: Path) -> Iterator[list[ServerThread]]:
    reg = registry_world(tmp_path / "runs", pg_url, ["ad-good", "ad-canary"])
    reg.promote("ad-good", feature="support", force=True, reason="test")
    reg.promote("ad-canary", feature="support", alias="canary", force=True, reason="test")
    reg.close()
    upstream = ServerThread(
        scripted_app(["base-a"], {"ad-good": "base-a", "ad-canary": "base-a"})
    ).start()
    config = tmp_path / "tunewise.yaml"
    serve = {"upstreams": {"gpu": {"kind": "openai", "base_url": upstream.url + "/v1", "base": BASE_ID}},
             "flags_ttl_s": 0.2, "log_flush_s": 0.2}  # fmt: skip
    config.write_text(json.dumps({"serve": serve}))
    procs, servers = [], []
    try:
        for i in range(2):
            port, log = free_port(), tmp_path / f"replica{i}.log"
            procs.append(start_replica(config, pg_url, port, log))
            wait_healthy(port, procs[-1], log)
            servers.append(type("S", (), {"url": f"http://127.0.0.1:{port}"})())
        yield servers
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
        upstream.stop()


def arm(server: ServerThread, user: str) -> str:
    raw = sdk(server).chat.completions.with_raw_response.create(
        model="support", messages=MSG, user=user
    )
    return raw.headers["x-tunewise-arm"]


def seen_by_all(servers: list[ServerThread], percent: float, killed: bool = False) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        views = [
            {m["id"]: m for m in httpx.get(s.url + "/v1/models").json()["data"]}["support"]
            for s in servers
        ]
        if all(v["canary_percent"] == percent and v["killed"] == killed for v in views):
            return
        time.sleep(0.1)
    raise AssertionError("the flag did not reach every replica")


def test_two_replicas_agree_on_every_users_arm(replicas, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    a, b = replicas
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["flags", "set", "support", "canary=40", "--db", pg_url]).exit_code == 0
    )
    seen_by_all(replicas, 40)
    users = [f"user-{i}" for i in range(40)]
    on_a = {u: arm(a, u) for u in users}
    on_b = {u: arm(b, u) for u in users}
    assert on_a == on_b
    assert {"control", "canary"} == set(on_a.values())
    assert (
        runner.invoke(cli, ["flags", "set", "support", "canary=off", "--db", pg_url]).exit_code == 0
    )
    seen_by_all(replicas, 0, killed=True)
    assert {arm(s, u) for s in replicas for u in users} == {"control"}
    rows = log_rows(pg_url, 160)
    assert len(rows) == 160 and len({r.server for r in rows}) == 2
