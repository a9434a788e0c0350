"""The unmodified `openai` SDK against `tunewise serve` on loopback: chat, streaming, models."""

from __future__ import annotations

import httpx
from serve_helpers import MSG, sdk


def test_chat_answers_in_openai_format_with_served_headers(gateway) -> None:  # type: ignore[no-untyped-def]
    client = sdk(gateway())
    raw = client.chat.completions.with_raw_response.create(
        model="base-a", messages=MSG, max_tokens=8
    )
    done = raw.parse()
    assert done.choices[0].message.content == "base-a says: where is my card"
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None and done.usage.completion_tokens == 6
    assert done.model == "base-a" and done.id.startswith("chatcmpl-")
    assert raw.headers["x-tunewise-model"] == "base-a"
    assert raw.headers["x-tunewise-arm"] == "direct"
    assert raw.headers["x-request-id"] == done.id


def test_max_tokens_cuts_the_answer_with_finish_reason_length(gateway) -> None:  # type: ignore[no-untyped-def]
    done = sdk(gateway()).chat.completions.create(model="base-a", messages=MSG, max_tokens=2)
    assert done.choices[0].message.content == "base-a says:"
    assert done.choices[0].finish_reason == "length"


def test_stream_yields_deltas_then_usage_then_done(gateway) -> None:  # type: ignore[no-untyped-def]
    client = sdk(gateway())
    chunks = list(
        client.chat.completions.create(
            model="base-a", messages=MSG, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "base-a says: where is my card"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6
    assert len({c.id for c in chunks}) == 1


def test_stream_without_usage_option_has_no_usage_chunk(gateway) -> None:  # type: ignore[no-untyped-def]
    server = gateway()
    with httpx.stream(
        "POST",
        server.url + "/v1/chat/completions",
        json={"model": "base-a", "messages": MSG, "stream": True},
    ) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    assert all('"usage"' not in line for line in lines)


def test_models_lists_what_upstreams_serve(gateway) -> None:  # type: ignore[no-untyped-def]
    ids = [m.id for m in sdk(gateway()).models.list()]
    assert ids == ["base-a"]


def test_healthz_and_metrics(gateway) -> None:  # type: ignore[no-untyped-def]
    server = gateway()
    sdk(server).chat.completions.create(model="base-a", messages=MSG)
    health = httpx.get(server.url + "/healthz").json()
    # `classifiers`: the implicit upstream of registered embedding classifiers (no config needed)
    assert health["status"] == "ok" and health["upstreams"] == ["scripted", "classifiers"]
    assert health["open_circuits"] == []
    text = httpx.get(server.url + "/metrics").text
    assert (
        'tunewise_requests_total{arm="direct",feature="",model="base-a",status="200"} 1.0' in text
    )
