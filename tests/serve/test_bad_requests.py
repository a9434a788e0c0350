"""Every kind of bad request gets an OpenAI-shaped 4xx, never a 500 or a traceback."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from serve_helpers import MSG, sdk

OK = {"model": "base-a", "messages": MSG}


def _with(**kw: Any) -> bytes:
    return json.dumps({**OK, **kw}).encode()


CASES = [
    ("invalid json", b'{"model": "base-a", "messages": [', 400, "invalid_json", None),
    ("not an object", b"[1, 2]", 400, "invalid_json", None),
    (
        "no model",
        json.dumps({"messages": MSG}).encode(),
        400,
        "missing_required_parameter",
        "model",
    ),
    (
        "no messages",
        json.dumps({"model": "base-a"}).encode(),
        400,
        "missing_required_parameter",
        "messages",
    ),
    ("empty messages", _with(messages=[]), 400, "invalid_value", "messages"),
    ("unknown model", _with(model="no-such-feature"), 404, "model_not_found", "model"),
    (
        "bad role",
        _with(messages=[{"role": "bot", "content": "x"}]),
        400,
        "invalid_value",
        "messages.[0].role",
    ),
    (
        "content not text",
        _with(messages=[{"role": "user", "content": 5}]),
        400,
        "invalid_type",
        "messages.[0].content",
    ),
    (
        "image part",
        _with(
            messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
            ]
        ),
        400,
        "invalid_value",
        "messages.[0].content.[0].type",
    ),
    ("max_tokens a string", _with(max_tokens="ten"), 400, "invalid_type", "max_tokens"),
    ("max_tokens zero", _with(max_tokens=0), 400, "invalid_value", "max_tokens"),
    ("max_tokens a boolean", _with(max_tokens=True), 400, "invalid_type", "max_tokens"),
    ("max_tokens a numeric string", _with(max_tokens="8"), 400, "invalid_type", "max_tokens"),
    (
        "user message without content",
        _with(messages=[{"role": "user"}]),
        400,
        "missing_required_parameter",
        "messages.[0].content",
    ),
    ("nested too deeply", b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json", None),
    ("max_tokens over the limit", _with(max_tokens=65), 400, "invalid_value", "max_tokens"),
    ("temperature too high", _with(temperature=3), 400, "invalid_value", "temperature"),
    ("temperature a string", _with(temperature="hot"), 400, "invalid_type", "temperature"),
    ("stream not a boolean", _with(stream="sometimes"), 400, "invalid_type", "stream"),
    ("stream the string true", _with(stream="true"), 400, "invalid_type", "stream"),
    ("n above one", _with(n=2), 400, "invalid_value", "n"),
    ("too many stops", _with(stop=["a", "b", "c", "d", "e"]), 400, "invalid_value", "stop"),
    (
        "input over the context",
        _with(messages=[{"role": "user", "content": "word " * 2040}]),
        400,
        "context_length_exceeded",
        "messages",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "param"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_request_gets_openai_shaped_4xx(
    shared_gateway, body: bytes, status: int, code: str, param: str | None
) -> None:  # type: ignore[no-untyped-def]
    server = shared_gateway
    for stream in (False, True):
        payload = body
        if stream and body.endswith(b"}") and b'"stream"' not in body:
            payload = body[:-1] + b', "stream": true}'
        resp = httpx.post(server.url + "/v1/chat/completions", content=payload)
        assert resp.status_code == status, resp.text
        err = resp.json()["error"]
        assert set(err) == {"message", "type", "param", "code"}
        assert err["code"] == code and err["param"] == param
        assert err["type"] == "invalid_request_error"
        assert "Traceback" not in err["message"] and err["message"]


def test_the_sdk_raises_its_own_error_classes(shared_gateway) -> None:  # type: ignore[no-untyped-def]
    client = sdk(shared_gateway)
    with pytest.raises(openai.NotFoundError) as nf:
        client.chat.completions.create(model="nope", messages=MSG)
    assert nf.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as br:
        client.chat.completions.create(model="base-a", messages=MSG, max_tokens=10_000)
    assert br.value.param == "max_tokens"


def test_unknown_route_and_method(shared_gateway) -> None:  # type: ignore[no-untyped-def]
    server = shared_gateway
    r = httpx.get(server.url + "/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_url"
    r = httpx.get(server.url + "/v1/chat/completions")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


ADMIN_CASES = [
    ("invalid json", "/v1/feedback", b'{"response_id": ', "invalid_json", None),
    ("empty body", "/v1/feedback", b"", "invalid_json", None),
    ("an array", "/v1/feedback", b"[1]", "invalid_json", None),
    ("nested too deeply", "/v1/feedback", b"[" * 100_000 + b"]" * 100_000, "invalid_json", None),
    ("no response id", "/v1/feedback", b'{"rating": 1}', "missing_required_parameter", "response_id"),
    ("rating a string", "/v1/feedback", b'{"response_id": "x", "rating": "good"}', "invalid_type",
     "rating"),
    ("rating above 1", "/v1/feedback", b'{"response_id": "x", "rating": 5}', "invalid_value",
     "rating"),
    ("unknown field", "/v1/feedback", b'{"response_id": "x", "rating": 1, "stars": 5}',
     "invalid_value", "stars"),
    ("flag invalid json", "/v1/tunewise/flags/f", b"{", "invalid_json", None),
    ("flag share a string", "/v1/tunewise/flags/f", b'{"canary_percent": "ten"}', "invalid_type",
     "canary_percent"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "code", "param"), [c[1:] for c in ADMIN_CASES], ids=[c[0] for c in ADMIN_CASES]
)
def test_bad_feedback_and_admin_bodies_get_openai_shaped_400(
    shared_gateway, path: str, body: bytes, code: str, param: str | None
) -> None:  # type: ignore[no-untyped-def]
    method = "PUT" if "/flags/" in path else "POST"
    resp = httpx.request(method, shared_gateway.url + path, content=body,
                         headers={"content-type": "application/json"})  # fmt: skip
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert (err["code"], err["param"], err["type"]) == (code, param, "invalid_request_error")
    assert "None" not in err["message"] and "Traceback" not in err["message"]
