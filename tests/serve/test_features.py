"""Features and registered models through the registry: aliases resolve to adapters served by an
OpenAI-compatible upstream (vLLM's adapter listing and runtime loading)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai
import pytest
from serve_helpers import BASE_ID, MSG, registry_world, sdk, upstream_requests


@pytest.fixture
def world(tmp_path: Path, upstream, gateway):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'tunewise.db'}"
    reg = registry_world(tmp_path / "runs", url, ["ad-good", "ad-other", "ad-new"])
    reg.promote("ad-good", feature="support", force=True, reason="test")
    server = gateway(db_url=url, base=BASE_ID, load_adapters=True)
    yield reg, server
    reg.close()


def test_a_feature_answers_with_its_production_adapter(world, upstream) -> None:  # type: ignore[no-untyped-def]
    _, server = world
    raw = sdk(server).chat.completions.with_raw_response.create(
        model="support", messages=MSG, user="u1"
    )
    assert raw.parse().choices[0].message.content == "ad-good says: where is my card"
    assert raw.parse().model == "support"
    assert raw.headers["x-tunewise-feature"] == "support"
    assert raw.headers["x-tunewise-arm"] == "control"
    assert raw.headers["x-tunewise-model"] == "ad-good"


def test_a_registered_model_by_name_and_feature_at_alias(world) -> None:  # type: ignore[no-untyped-def]
    _, server = world
    client = sdk(server)
    assert (
        client.chat.completions.create(model="ad-good", messages=MSG)
        .choices[0]
        .message.content.startswith("ad-good")
    )
    raw = client.chat.completions.with_raw_response.create(model="support@production", messages=MSG)
    assert raw.headers["x-tunewise-model"] == "ad-good"


def test_an_adapter_the_upstream_lacks_is_loaded_first(world, upstream) -> None:  # type: ignore[no-untyped-def]
    _, server = world
    done = sdk(server).chat.completions.create(model="ad-new", messages=MSG)
    assert done.choices[0].message.content.startswith("ad-new says")
    assert upstream_requests(upstream)["ad-new"] == 1


def test_an_adapter_on_another_parent_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    _, server = world
    with pytest.raises(openai.APIStatusError) as info:
        sdk(server).chat.completions.create(model="ad-other", messages=MSG)
    assert info.value.status_code == 503
    assert "parent 'base-b'" in info.value.message


def test_models_lists_features_and_registered_models(world) -> None:  # type: ignore[no-untyped-def]
    _, server = world
    models = {m.id: m for m in sdk(server).models.list()}
    assert {"support", "ad-good", "ad-other", "ad-new", "base-a"} <= set(models)
    assert models["support"].owned_by == "tunewise:feature"
    assert models["support"].model_extra["control"] == "ad-good"  # type: ignore[index]


def test_promotion_is_seen_without_restart(world) -> None:  # type: ignore[no-untyped-def]
    reg, server = world
    reg.promote("ad-new", feature="support", force=True, reason="swap")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        raw = sdk(server).chat.completions.with_raw_response.create(model="support", messages=MSG)
        if raw.headers["x-tunewise-model"] == "ad-new":
            break
        time.sleep(0.2)
    assert raw.headers["x-tunewise-model"] == "ad-new"


def test_a_hosted_ft_model_goes_to_the_upstream_that_serves_ft_names(tmp_path: Path) -> None:
    """A registered provider model (`ft:...`) is sent to the `openai` upstream whose `serves`
    pattern matches it, under its provider id."""
    from serve_helpers import start_gateway

    from tunewise.registry import Registry
    from tunewise.serve.testing import ServerThread, scripted_app

    ft = "ft:gpt-4o-mini-2024-07-18:acme:support:abc123"
    url = f"sqlite:///{tmp_path / 'tunewise.db'}"
    with Registry(url) as reg:
        reg.register_model(
            provider_model_id=ft, name="support-hosted", base="gpt-4o-mini-2024-07-18"
        )
        reg.promote("support-hosted", feature="hosted", force=True, reason="test")
    with ServerThread(scripted_app([ft])) as hosted:
        gw = start_gateway(hosted.url, db_url=url, models=[], serves=["ft:*"])
        try:
            raw = sdk(gw).chat.completions.with_raw_response.create(model="hosted", messages=MSG)
        finally:
            gw.stop()
    assert raw.parse().choices[0].message.content == f"{ft} says: where is my card"
    assert raw.headers["x-tunewise-model"] == "support-hosted"


def test_a_broken_canary_adapter_does_not_take_control_down(world) -> None:  # type: ignore[no-untyped-def]
    """The canary is an adapter the upstream serves on another base: every canary request falls
    back to control, its own circuit opens, and control (same upstream) keeps answering."""
    from tunewise.serve.flags import set_flag
    from tunewise.serve.routing import Flag
    from tunewise.store import get_engine

    reg, server = world
    reg.promote(
        "ad-other", feature="support", alias="canary", force=True, reason="broken on purpose"
    )
    set_flag(get_engine(reg.url), "support", Flag(10_000), by="test")
    client = sdk(server)
    time.sleep(1.5)  # the flag and the alias reach the server within serve.flags_ttl_s
    for i in range(8):  # more than breaker_failures (3)
        raw = client.chat.completions.with_raw_response.create(
            model="support", messages=MSG, user=f"u{i}"
        )
        assert raw.parse().choices[0].message.content.startswith("ad-good says")
        assert raw.headers["x-tunewise-fallback"] == "canary"
    health = httpx.get(server.url + "/healthz").json()
    assert health["open_circuits"] == ["scripted/ad-other"]
