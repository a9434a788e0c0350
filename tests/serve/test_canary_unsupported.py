"""A canary on the `local` upstream (the tiny model) that cannot honour a request control serves
(`tools`): the user gets control's answer, the request log says the canary could not serve it and
the rollout counts it against the canary, but the canary's circuit never opens. In shadow, the
refusal is recorded as a candidate error and counted apart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from local_helpers import build_adapter
from serve_helpers import MSG, log_rows, make_adapter, sdk
from typer.testing import CliRunner

from tunewise.cli import app as cli

pytest.importorskip("torch")

TOOLS = [
    {
        "type": "function",
        "function": {"name": "card_status", "parameters": {"type": "object", "properties": {}}},
    }
]


@pytest.fixture(scope="module")
def world(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`support`: control `support-v1` on a scripted OpenAI-compatible server (tools accepted),
    canary `support-v2` on the local tiny model at 100%. `offline`: both arms local. `shadowed`:
    control `support-v1`, `support-v2` in a shadow stage mirroring every request."""
    from tunewise.registry import Registry
    from tunewise.serve.app import create_app
    from tunewise.serve.config import ServeConfig
    from tunewise.serve.rollout.api import start_rollout
    from tunewise.serve.rollout.config import RolloutConfig
    from tunewise.serve.rollout.context import RolloutContext
    from tunewise.serve.testing import ServerThread, scripted_app
    from tunewise.store import get_engine

    root = tmp_path_factory.mktemp("unsupported")
    url = f"sqlite:///{root / 'tunewise.db'}"
    # never judged to the end here: the figures are what the test reads
    rcfg = RolloutConfig.model_validate(
        {"tick": "0.2s", "min_requests": 10**6, "min_samples": 10**6}
    )
    with Registry(url) as reg:
        reg.register_model(make_adapter(root, "support-v1"))
        for name, seed in (("support-v2", 2), ("support-v3", 3)):
            reg.register_model(build_adapter(tiny_model, root / name, seed), name=name)
        reg.promote("support-v1", feature="support", force=True, reason="test")
        reg.promote("support-v2", feature="support", alias="canary", force=True, reason="test")
        reg.promote("support-v3", feature="offline", force=True, reason="test")
        reg.promote("support-v2", feature="offline", alias="canary", force=True, reason="test")
        reg.promote("support-v1", feature="shadowed", force=True, reason="test")
    start_rollout(get_engine(url), "support-v2", "shadowed", cfg=rcfg, shadow=100, force=True,
                  reason="test", by="ana")  # fmt: skip
    for feature in ("support", "offline"):
        out = CliRunner().invoke(cli, ["flags", "set", feature, "canary=100", "--db", url])
        assert out.exit_code == 0, out.output
    hosted = ServerThread(scripted_app(["base-a"], {"support-v1": "base-a"})).start()
    cfg = ServeConfig.model_validate(
        {
            "upstreams": {
                "hosted": {"kind": "openai", "base_url": hosted.url + "/v1",
                           "serves": ["support-v1"], "timeout_s": 10},
                "laptop": {"kind": "local", "base": str(tiny_model), "served_name": "tiny",
                           "max_tokens": 16, "max_batch": 4},
            },
            "flags_ttl_s": 0.1, "log_flush_s": 0.1, "log_sample": 1.0,
            "breaker_failures": 2, "breaker_cooldown_s": 60,
        }
    )  # fmt: skip
    gw = ServerThread(create_app(cfg, db_url=url, rollout=RolloutContext(config=rcfg))).start()
    yield {"gw": gw, "url": url}
    gw.stop()
    hosted.stop()


def _with_tools(client: Any, model: str, user: str, stream: bool) -> tuple[Any, str]:
    """(headers, answer text) of a request offering a tool."""
    kw = {"model": model, "messages": MSG, "max_tokens": 8, "user": user, "tools": TOOLS}
    if stream:
        with client.chat.completions.with_streaming_response.create(stream=True, **kw) as resp:
            chunks = list(resp.parse())
            return resp.headers, "".join(
                c.choices[0].delta.content or "" for c in chunks if c.choices
            )
    raw = client.chat.completions.with_raw_response.create(**kw)
    return raw.headers, raw.parse().choices[0].message.content


def test_a_local_canary_asked_for_tools_falls_back_to_control_and_counts_against_it(world) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from tunewise.serve.rollout.look import arm_samples
    from tunewise.serve.tables import RequestLogRow
    from tunewise.store import get_engine, transaction
    from tunewise.store.base import utcnow

    gw, url = world["gw"], world["url"]
    since = utcnow()
    client = sdk(gw)
    for i in range(12):  # far past breaker_failures (2): the canary's circuit must stay closed
        headers, text = _with_tools(client, "support", f"user-{i}", stream=i % 2 == 1)
        assert (headers["x-tunewise-arm"], headers["x-tunewise-model"]) == ("control", "support-v1")
        assert headers["x-tunewise-fallback"] == "canary"
        assert text == "support-v1 says: where is my card"
    # the canary still serves what it can: its circuit is closed
    raw = client.chat.completions.with_raw_response.create(
        model="support", messages=MSG, max_tokens=4, user="user-0"
    )
    assert (raw.headers["x-tunewise-arm"], raw.headers["x-tunewise-model"]) == (
        "canary", "support-v2",
    )  # fmt: skip
    metrics = httpx.get(gw.url + "/metrics").text
    assert 'tunewise_fallbacks_total{feature="support"} 12.0' in metrics
    assert 'upstream="laptop"} 1.0' not in metrics  # no open circuit
    assert 'tunewise_upstream_faults_total{code="unsupported_parameter"' not in metrics
    # without a canary the refusal comes back as before: the base, the adapter by name, and a
    # feature whose control refuses too (the client's 400, not the canary's failure)
    for model in ("tiny", "support-v2", "offline"):
        with pytest.raises(openai.BadRequestError) as caught:
            _with_tools(client, model, "user-0", stream=False)
        err = caught.value.body
        assert (err["code"], err["param"]) == ("unsupported_parameter", "tools"), err  # type: ignore[index]
        assert "upstream 'laptop' does not support tool calls" in err["message"]  # type: ignore[index]

    rows = log_rows(url, 16)
    fell_back = [r for r in rows if r.feature == "support" and r.fallback]
    assert len(fell_back) == 12 and all(
        (r.status, r.arm, r.model, r.canary_error) == (200, "control", "support-v1",
                                                      "unsupported_parameter")
        for r in fell_back
    )  # fmt: skip
    (offline,) = [r for r in rows if r.feature == "offline"]
    assert (offline.status, offline.arm, offline.fallback, offline.canary_error) == (
        400, "canary", False, None,
    )  # fmt: skip
    assert (offline.model, offline.error_code) == ("support-v2", "unsupported_parameter")
    with transaction(get_engine(url)) as s:
        assert len(list(s.scalars(select(RequestLogRow)))) == 16
        until = utcnow() + timedelta(minutes=1)
        support = arm_samples(s, "support", since, until, [])
        alone = arm_samples(s, "offline", since, until, [])
    # the rollout's view: 12 canary failures and the one canary success; control untouched
    assert sorted(support["canary"].errors.tolist()) == [0.0] + [1.0] * 12
    assert support["control"].requests == 0
    assert alone["canary"].requests == alone["control"].requests == 0


def test_a_shadow_candidate_refusing_tools_is_a_candidate_error_counted_apart(world) -> None:  # type: ignore[no-untyped-def]
    from tunewise.serve.rollout.api import rollout_status
    from tunewise.store import get_engine

    gw, url = world["gw"], world["url"]
    client = sdk(gw)

    def figures() -> dict[str, Any] | None:
        for i in range(3):
            headers, text = _with_tools(client, "shadowed", f"s-{i}", stream=False)
            assert headers["x-tunewise-arm"] == "control" and text.startswith("support-v1 says")
        shadow = (rollout_status(get_engine(url), "shadowed")["current"] or {}).get("shadow")
        return shadow if shadow and shadow["pairs"] >= 3 else None

    deadline = time.monotonic() + 120
    while (shadow := figures()) is None:
        assert time.monotonic() < deadline, "no shadow pairs recorded"
        time.sleep(0.3)
    assert shadow["candidate_errors"] == shadow["candidate_unsupported"] == shadow["pairs"]
    assert shadow["agreement"] is None  # nothing to compare: the candidate never answered
