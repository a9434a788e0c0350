"""The upstream registry: kinds register in one place, options are validated with their paths."""

from __future__ import annotations

import time

import pytest
from pydantic import BaseModel, Field

from tunewise.errors import ConfigError
from tunewise.serve.config import UpstreamConfig
from tunewise.serve.errors import Overloaded, UpstreamTimeout
from tunewise.serve.upstreams import ChatRequest, create_upstream, read_options, register_upstream
from tunewise.serve.upstreams.base import upstream_kinds


class _Opts(BaseModel):
    base_url: str
    workers: int = Field(1, gt=0)


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown upstream kind 'nope'.*openai"):
        create_upstream("x", UpstreamConfig(kind="nope"))


def test_registered_kind_is_built_with_its_options() -> None:
    made = {}

    def factory(name: str, cfg: UpstreamConfig):  # type: ignore[no-untyped-def]
        made["opts"] = read_options(name, cfg, _Opts)
        return made

    register_upstream("test-kind", factory)
    assert "test-kind" in upstream_kinds()
    create_upstream(
        "u1", UpstreamConfig.model_validate({"kind": "test-kind", "base_url": "http://h"})
    )
    assert made["opts"].base_url == "http://h"


def test_options_errors_list_every_path() -> None:
    cfg = UpstreamConfig.model_validate({"kind": "k", "workers": 0})
    with pytest.raises(ConfigError) as info:
        read_options("gpu", cfg, _Opts)
    text = str(info.value)
    assert "serve.upstreams.gpu.base_url: required" in text
    assert "serve.upstreams.gpu.workers: must be > 0" in text


def test_deadline_and_overload_carry_what_the_client_needs() -> None:
    req = ChatRequest(messages=[], max_tokens=1, deadline=time.monotonic() - 1)
    with pytest.raises(UpstreamTimeout):
        req.remaining()
    err = Overloaded("queue full", retry_after_s=2.4)
    assert err.status == 429 and err.headers["Retry-After"] == "2"
    assert err.body()["error"]["code"] == "overloaded"
