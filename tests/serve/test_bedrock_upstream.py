"""The bedrock upstream through the gateway, against a local bedrock-runtime speaking the real
wire protocol (boto3 parses real Converse JSON and event-stream frames), and botocore's Stubber
for the request shape."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from bedrock_server import bedrock_app
from serve_helpers import sdk

from tunewise.serve.testing import ServerThread

MODEL = "amazon.nova-lite-v1:0"
MSGS = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hello"},
    {"role": "user", "content": "my card"},
]


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ServerThread, ServerThread]]:
    from tunewise.serve.app import create_app
    from tunewise.serve.config import ServeConfig

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    app = bedrock_app()
    with ServerThread(app) as aws:
        cfg = ServeConfig.model_validate(
            {
                "upstreams": {
                    "aws": {
                        "kind": "bedrock",
                        "region": "us-east-1",
                        "endpoint_url": aws.url,
                        "models": [MODEL],
                        "retries": 0,
                        "max_tokens": 32,
                    }
                }
            }
        )
        with ServerThread(create_app(cfg)) as gw:
            yield aws, gw


def test_converse_answers_through_the_sdk(bedrock) -> None:  # type: ignore[no-untyped-def]
    aws, gw = bedrock
    done = sdk(gw).chat.completions.create(model=MODEL, messages=MSGS, max_tokens=4, temperature=0)
    assert done.choices[0].message.content == f"{MODEL} says: hello my"
    assert done.choices[0].finish_reason == "length"
    assert done.usage is not None and done.usage.completion_tokens == 4
    sent = aws.server.config.app.state.seen[-1]
    assert sent["system"] == [{"text": "be brief"}]
    assert sent["messages"] == [
        {"role": "user", "content": [{"text": "hello"}, {"text": "my card"}]}
    ]
    assert sent["inferenceConfig"] == {"maxTokens": 4, "temperature": 0.0}


def test_converse_stream_yields_deltas_and_usage(bedrock) -> None:  # type: ignore[no-untyped-def]
    _, gw = bedrock
    chunks = list(
        sdk(gw).chat.completions.create(
            model=MODEL, messages=MSGS, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"{MODEL} says: hello my card"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


@pytest.mark.parametrize(
    ("status", "code", "message", "expect_status", "expect_code"),
    [
        (429, "ThrottlingException", "Too many requests", 429, "overloaded"),
        (
            400,
            "ValidationException",
            "Input is too long for requested model.",
            400,
            "context_length_exceeded",
        ),
        (400, "ValidationException", "Malformed input request", 400, "invalid_request"),
        (404, "ResourceNotFoundException", "model not found", 503, "model_unavailable"),
        (408, "ModelTimeoutException", "timed out", 504, "upstream_timeout"),
        (500, "InternalServerException", "boom", 502, "upstream_error"),
    ],
)
def test_bedrock_errors_map_to_openai_errors(
    bedrock, status, code, message, expect_status, expect_code
) -> None:  # type: ignore[no-untyped-def]
    aws, gw = bedrock
    aws.server.config.app.state.errors[MODEL] = (status, code, message)
    with pytest.raises(openai.APIStatusError) as info:
        sdk(gw).chat.completions.create(model=MODEL, messages=MSGS)
    assert info.value.status_code == expect_status
    assert info.value.body["code"] == expect_code  # type: ignore[index]


def test_a_stream_error_after_tokens_is_a_broken_stream(bedrock) -> None:  # type: ignore[no-untyped-def]
    aws, gw = bedrock
    aws.server.config.app.state.break_after[MODEL] = 2
    got = []
    with pytest.raises(openai.APIError):
        for chunk in sdk(gw).chat.completions.create(model=MODEL, messages=MSGS, stream=True):
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == f"{MODEL} says:"


def test_tool_messages_are_refused_with_the_field() -> None:
    from tunewise.serve.errors import InvalidRequest
    from tunewise.serve.upstreams.bedrock import converse_messages

    with pytest.raises(InvalidRequest) as info:
        converse_messages([{"role": "user", "content": "x"}, {"role": "tool", "content": "y"}])
    assert info.value.param == "messages.[1].role"


def test_stubber_sees_the_converse_request_boto3_builds() -> None:
    """botocore's Stubber checks the exact parameters against the Converse API's model."""
    import asyncio

    import boto3
    from botocore.stub import Stubber

    from tunewise.serve.config import UpstreamConfig
    from tunewise.serve.upstreams.base import ChatRequest, ModelTarget
    from tunewise.serve.upstreams.bedrock import BedrockUpstream

    arn = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abc"
    up = BedrockUpstream("aws", UpstreamConfig(kind="bedrock"))
    up._client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    target = ModelTarget(name="support-v3", kind="provider", provider_model=arn)
    assert up.serves(target)
    req = ChatRequest(
        messages=[{"role": "user", "content": "hi"}], max_tokens=7, top_p=0.5, stop=("END",)
    )
    with Stubber(up._client) as stub:
        stub.add_response(
            "converse",
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "hello"}]}},
                "stopReason": "stop_sequence",
                "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
                "metrics": {"latencyMs": 3},
            },
            {
                "modelId": arn,
                "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                "inferenceConfig": {"maxTokens": 7, "topP": 0.5, "stopSequences": ["END"]},
            },
        )
        result = asyncio.run(up.chat(req, target))
    assert result.content == "hello" and result.finish_reason == "stop"
