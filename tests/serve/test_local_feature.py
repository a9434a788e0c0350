"""End to end on a real model: the gateway serves the tiny model through the `local` upstream,
a feature's production and canary adapters from the registry, with the real `openai` SDK."""

from __future__ import annotations

from pathlib import Path

import pytest
from local_helpers import build_adapter, lively_copy
from serve_helpers import log_rows, sdk
from typer.testing import CliRunner

from tunewise.cli import app as cli

pytest.importorskip("torch")

MSG = [{"role": "user", "content": "My card was declined at the shop, why?"}]


@pytest.fixture(scope="module")
def served(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tunewise.registry import Registry
    from tunewise.serve.app import create_app
    from tunewise.serve.config import ServeConfig
    from tunewise.serve.testing import ServerThread

    root = tmp_path_factory.mktemp("feature")
    model = lively_copy(tiny_model, root / "model")
    url = f"sqlite:///{root / 'tunewise.db'}"
    with Registry(url) as reg:
        for name, seed in (("support-v1", 1), ("support-v2", 2)):
            reg.register_model(build_adapter(model, root / name, seed), name=name)
        reg.promote("support-v1", feature="support", force=True, reason="first release")
        reg.promote("support-v2", feature="support", alias="canary", force=True, reason="candidate")
    up = {
        "kind": "local",
        "base": str(model),
        "served_name": "tiny",
        "max_tokens": 16,
        "max_batch": 8,
    }
    cfg = ServeConfig.model_validate(
        {"upstreams": {"laptop": up}, "flags_ttl_s": 0.1, "log_flush_s": 0.1, "log_sample": 1.0}
    )
    runner = CliRunner()
    assert runner.invoke(cli, ["flags", "set", "support", "canary=50", "--db", url]).exit_code == 0
    with ServerThread(create_app(cfg, db_url=url)) as server:
        yield server, url


def test_feature_arms_answer_with_their_adapters_plain_and_streamed(served) -> None:  # type: ignore[no-untyped-def]
    server, url = served
    client = sdk(server)
    direct = {
        name: client.chat.completions.create(model=name, messages=MSG, max_tokens=8)
        .choices[0]
        .message.content
        for name in ("tiny", "support-v1", "support-v2")
    }
    assert len(set(direct.values())) == 3  # base and both adapters answer differently
    seen = {}
    for i in range(12):
        user = f"user-{i}"
        raw = client.chat.completions.with_raw_response.create(
            model="support", messages=MSG, max_tokens=8, user=user
        )
        model = raw.headers["x-tunewise-model"]
        assert raw.headers["x-tunewise-arm"] == ("canary" if model == "support-v2" else "control")
        assert raw.parse().choices[0].message.content == direct[model]  # greedy: the same answer
        chunks = list(
            client.chat.completions.create(
                model="support", messages=MSG, max_tokens=8, user=user, stream=True
            )
        )
        assert (
            "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == direct[model]
        )
        seen[user] = model
    assert set(seen.values()) == {"support-v1", "support-v2"}
    assert len(log_rows(url, 27)) == 27  # 3 direct + 12 plain + 12 streamed
    assert {"support-v1", "support-v2", "tiny"} <= {m.id for m in client.models.list()}
