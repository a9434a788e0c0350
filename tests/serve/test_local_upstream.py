"""The `local` upstream behind the gateway, called with the real openai SDK; adapters checked on load."""

from __future__ import annotations

import asyncio

import pytest
from local_helpers import build_adapter, lively_copy
from serve_helpers import sdk

from tunewise.errors import ConfigError
from tunewise.serve.config import UpstreamConfig
from tunewise.serve.errors import ModelUnavailable
from tunewise.serve.upstreams import ChatRequest, ModelTarget, create_upstream

pytest.importorskip("torch")

MSG = [{"role": "user", "content": "Where is my card?"}]


@pytest.fixture(scope="module")
def model(tiny_model, tmp_path_factory):
    return lively_copy(tiny_model, tmp_path_factory.mktemp("lively") / "model")


@pytest.fixture(scope="module")
def adapters(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return {name: build_adapter(model, root / name, seed) for name, seed in (("a1", 1), ("a2", 2))}


def local_config(model, **fields):
    return {"kind": "local", "base": str(model), "served_name": "tiny", "max_tokens": 32, **fields}


@pytest.fixture(scope="module")
def gateway(model, adapters):
    from tunewise.serve.app import create_app
    from tunewise.serve.config import ServeConfig
    from tunewise.serve.testing import ServerThread

    up = local_config(model, adapters={"support": str(adapters["a1"])}, max_batch=1, max_queue=0)
    config = ServeConfig.model_validate({"upstreams": {"laptop": up}})
    with ServerThread(create_app(config)) as server:
        yield server


def test_sdk_chat_and_stream_against_the_base_and_an_adapter(gateway):
    client = sdk(gateway)
    assert {m.id for m in client.models.list()} >= {"tiny", "support"}
    answers = {}
    for name in ("tiny", "support"):
        done = client.chat.completions.create(model=name, messages=MSG, max_tokens=12)
        assert done.choices[0].finish_reason == "length" and done.usage.completion_tokens == 12
        chunks = list(
            client.chat.completions.create(
                model=name,
                messages=MSG,
                max_tokens=12,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert streamed == done.choices[0].message.content  # greedy: the same answer
        assert chunks[-1].usage.completion_tokens == 12
        answers[name] = streamed
    assert answers["tiny"] != answers["support"]


def test_busy_model_answers_429_with_retry_after(gateway):
    import openai

    client = sdk(gateway)
    long = client.chat.completions.create(model="tiny", messages=MSG, max_tokens=32, stream=True)
    next(iter(long))  # the only row is busy now and the queue holds none
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="tiny", messages=MSG, max_tokens=4)
    assert err.value.response.headers["retry-after"] and err.value.code == "overloaded"
    long.close()


def test_registered_adapters_load_on_first_use_and_are_checked(model, adapters, tmp_path):
    from tunewise.models import model_hash

    wrong = build_adapter(model, tmp_path / "wrong", 3, base_hash="f" * 64)
    up = create_upstream("laptop", UpstreamConfig.model_validate(local_config(model)))

    def target(name, path):
        return ModelTarget(name, "adapter", str(model), model_hash(model), str(path), "c" * 64)

    async def scenario():
        await up.start()
        try:
            good = target("support-v2", adapters["a2"])
            assert up.serves(good)
            assert not up.serves(ModelTarget("x", "adapter", "other", "e" * 64, str(wrong)))
            await up.prepare(good)
            req = ChatRequest(messages=MSG, max_tokens=8)
            answer = await up.chat(req, good)
            base = await up.chat(req, ModelTarget("tiny", "base", "tiny"))
            # the registry says it is on this base, its manifest says otherwise: refused
            with pytest.raises(ModelUnavailable, match="different or modified"):
                await up.prepare(target("liar", wrong))
            return answer, base
        finally:
            await up.close()

    answer, base = asyncio.run(scenario())
    assert answer.usage.completion_tokens == 8 and answer.content != base.content


def test_configured_adapter_on_another_base_stops_the_start(model, tmp_path):
    wrong = build_adapter(model, tmp_path / "wrong", 3, base_hash="f" * 64)
    cfg = UpstreamConfig.model_validate(local_config(model, adapters={"w": str(wrong)}))
    up = create_upstream("laptop", cfg)
    with pytest.raises(ConfigError, match=r"serve.upstreams.laptop: adapter .*different"):
        asyncio.run(up.start())


def test_options_are_validated_with_their_paths(model):
    cfg = UpstreamConfig.model_validate(local_config(model, max_batch=0, dtype="int4"))
    with pytest.raises(ConfigError) as err:
        create_upstream("laptop", cfg)
    assert "serve.upstreams.laptop.max_batch" in str(err.value)
    assert "serve.upstreams.laptop.dtype" in str(err.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (
            "tools",
            [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        ),
        ("logprobs", True),
        ("response_format", {"type": "json_object"}),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_features_the_local_model_cannot_honour_are_refused_by_name(gateway, field, value, stream):
    import openai

    client = sdk(gateway)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="tiny", messages=MSG, max_tokens=4, stream=stream, **{field: value}
        )
    err = caught.value.body
    assert err["param"] == field and err["code"] == "unsupported_parameter", err
    assert "upstream 'laptop' does not support" in err["message"]
    # neutral values are not requests for the feature
    neutral = {"tools": [], "logprobs": False, "response_format": {"type": "text"}}[field]
    done = client.chat.completions.create(
        model="tiny", messages=MSG, max_tokens=4, **{field: neutral}
    )
    assert done.choices[0].message.content is not None
