"""tunewise.threads: OpenMP threads sleep while waiting when the machine is shared."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tunewise.threads import others_running, passive_wanted

CHOOSE = (
    "import os, sys; from tunewise.threads import prefer_passive_threads; "
    "print(prefer_passive_threads(), os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
)


def _choose(env: dict[str, str] | None = None) -> str:
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run([sys.executable, "-c", CHOOSE], capture_output=True, text=True,
                          env={**base, **(env or {})}, check=True)  # fmt: skip
    return done.stdout.strip()


def test_the_rule() -> None:
    assert not passive_wanted(0) and passive_wanted(1) and passive_wanted(2.5)
    assert passive_wanted(0, always=True)


def test_a_busy_neighbour_makes_threads_sleep_and_an_explicit_setting_wins() -> None:
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        deadline = time.monotonic() + 10
        while others_running() < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert others_running() >= 1
        assert _choose() == "True PASSIVE False"
        assert _choose({"OMP_WAIT_POLICY": "ACTIVE"}) == "False ACTIVE False"
    finally:
        for p in busy:
            p.kill()
            p.wait()


def test_commands_that_never_load_torch_do_not_sample_the_load(monkeypatch, tmp_path) -> None:
    from typer.testing import CliRunner

    import tunewise.threads
    from tunewise.cli import app

    chosen: list[bool] = []
    monkeypatch.setattr(tunewise.threads, "prefer_passive_threads", lambda: chosen.append(True))
    monkeypatch.setenv("TUNEWISE_HOME", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["registry", "list"]).exit_code == 0
    assert chosen == []
    assert runner.invoke(app, ["train", "--help"]).exit_code == 0
    assert chosen == [True]
