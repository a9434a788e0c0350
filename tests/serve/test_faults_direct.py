"""Faults of an upstream that is a real OpenAI-compatible server: retries within the budget,
timeouts, the circuit breaker and streams that break after tokens were sent."""

from __future__ import annotations

import httpx
import openai
import pytest
from serve_helpers import MSG, sdk, set_faults, upstream_requests


def _metric(server, name: str) -> float:  # type: ignore[no-untyped-def]
    total = 0.0
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_transient_5xx_is_retried_once(gateway, upstream) -> None:  # type: ignore[no-untyped-def]
    server = gateway()
    # error_rate 0.5 with seed 3: the scripted server's first draw fails, the second succeeds.
    set_faults(upstream, model="base-a", error_rate=0.5, status=503, seed=3)
    done = sdk(server).chat.completions.create(model="base-a", messages=MSG)
    assert done.choices[0].message.content.startswith("base-a says")
    assert upstream_requests(upstream)["base-a"] == 2
    assert _metric(server, "tunewise_retries_total") == 1


def test_persistent_failures_open_the_circuit(gateway, upstream) -> None:  # type: ignore[no-untyped-def]
    server = gateway(retries=0)
    set_faults(upstream, model="base-a", error_rate=1.0, status=500)
    client = sdk(server)
    for _ in range(3):
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="base-a", messages=MSG)
        assert info.value.status_code == 502
        assert info.value.body["code"] == "upstream_error"  # type: ignore[index]
    sent = upstream_requests(upstream)["base-a"]
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="base-a", messages=MSG)
    assert info.value.status_code == 503 and info.value.body["code"] == "circuit_open"  # type: ignore[index]
    assert int(info.value.response.headers["retry-after"]) > 0
    assert upstream_requests(upstream)["base-a"] == sent  # the open circuit spared the upstream
    health = httpx.get(server.url + "/healthz").json()
    assert health["status"] == "degraded" and health["open_circuits"] == ["scripted/base-a"]
    assert _metric(server, "tunewise_circuit_open") == 1


def test_a_slow_upstream_times_out_with_504(gateway, upstream) -> None:  # type: ignore[no-untyped-def]
    server = gateway(timeout_s=0.3)
    set_faults(upstream, model="base-a", delay_s=2)
    with pytest.raises(openai.APIStatusError) as info:
        sdk(server).chat.completions.create(model="base-a", messages=MSG)
    assert info.value.status_code == 504 and info.value.body["code"] == "upstream_timeout"  # type: ignore[index]


def test_a_stream_broken_after_tokens_is_an_error_event_and_counted(gateway, upstream) -> None:  # type: ignore[no-untyped-def]
    server = gateway()
    set_faults(upstream, model="base-a", break_after=2)
    stream = sdk(server).chat.completions.create(model="base-a", messages=MSG, stream=True)
    got = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "base-a says:"  # tokens reached the client before the break
    assert "stream" in str(info.value)
    assert _metric(server, "tunewise_broken_streams_total") == 1
    assert _metric(server, 'tunewise_upstream_faults_total{code="broken_stream"') == 1


def test_upstream_overload_is_a_429_with_retry_after(gateway, upstream) -> None:  # type: ignore[no-untyped-def]
    server = gateway()
    set_faults(upstream, model="base-a", error_rate=1.0, status=429)
    with pytest.raises(openai.RateLimitError) as info:
        sdk(server).chat.completions.create(model="base-a", messages=MSG)
    assert info.value.response.headers["retry-after"] == "1"
