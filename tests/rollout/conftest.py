"""Fixtures of the rollout tests: a registry ready for a rollout of `sup-v2` (and `sup-flaky`)
against `sup-v1` on feature `support`, and gateways in front of real OpenAI-compatible servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rollout_helpers import gateway, ready_registry, scripted_upstream

from tunewise.serve.testing import ServerThread, scripted_app


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`main` serves sup-v1 and sup-v2, `flaky` serves sup-flaky (faults set per test);
    `world["gateway"](rollout={...})` starts a gateway with the store."""
    url = f"sqlite:///{tmp_path / 'tunewise.db'}"
    reg = ready_registry(tmp_path / "runs", url, "support", "sup-v1", ["sup-v2", "sup-flaky"])
    main = ServerThread(scripted_app(["base-a"], {"sup-v1": "base-a", "sup-v2": "base-a"})).start()
    flaky = ServerThread(scripted_app(["base-a"], {"sup-flaky": "base-a"})).start()
    started: list[ServerThread] = []

    def make(**kw: Any) -> ServerThread:
        ups = {"flaky": scripted_upstream(flaky, ["sup-flaky"]), "main": scripted_upstream(main)}
        started.append(gateway(url, ups, **kw))
        return started[-1]

    yield {"url": url, "reg": reg, "main": main, "flaky": flaky, "gateway": make, "root": tmp_path}
    for server in started:
        server.stop()
    main.stop()
    flaky.stop()
    reg.close()


@pytest.fixture
def cli() -> Callable[..., Any]:
    """Run `tunewise ARGS...` in-process; returns the result (exit code checked by the caller)."""
    from typer.testing import CliRunner

    from tunewise.cli import app

    return lambda *args: CliRunner().invoke(app, [str(a) for a in args])
