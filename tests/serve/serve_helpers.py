"""Helpers for the gateway tests (importable by name from the tests in this folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunewise.serve.testing import ServerThread

MSG = [{"role": "user", "content": "where is my card"}]


def sdk(server: ServerThread, key: str = "anything", **kw: Any) -> Any:
    """The unmodified openai SDK pointed at `server` (no client-side retries)."""
    import openai

    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, **kw)


def set_faults(upstream: ServerThread, **faults: Any) -> None:
    import httpx

    httpx.post(upstream.url + "/_faults", json=faults).raise_for_status()


def upstream_requests(upstream: ServerThread) -> dict[str, int]:
    import httpx

    return dict(httpx.get(upstream.url + "/_stats").json()["requests"])


def start_gateway(
    upstream_url: str,
    overrides: dict[str, Any] | None = None,
    db_url: str | None = None,
    **upstream: Any,
) -> ServerThread:
    """A running gateway whose upstream `scripted` (kind openai) is the server at `upstream_url`;
    `upstream` keywords change that upstream's config."""
    from tunewise.serve.app import create_app
    from tunewise.serve.config import ServeConfig

    raw: dict[str, Any] = {
        "upstreams": {
            "scripted": {
                "kind": "openai",
                "base_url": upstream_url + "/v1",
                "models": ["base-a"],
                "timeout_s": 5,
                "max_tokens": 64,
                **upstream,
            }
        },
        "breaker_failures": 3,
        "breaker_cooldown_s": 60,
    }
    raw.update(overrides or {})
    return ServerThread(create_app(ServeConfig.model_validate(raw), db_url=db_url)).start()


BASE_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def make_adapter(root: Path, name: str, base_hash: str = "b" * 64) -> Path:
    """An adapter folder shaped like `tunewise train`'s output (PEFT files + manifest.json)."""
    import json
    import random

    from tunewise.artifacts import atomic_write_json

    folder = root / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": 8, "lora_alpha": 16}))
    (folder / "adapter_model.safetensors").write_bytes(random.Random(name).randbytes(64))
    manifest = {
        "kind": "adapter",
        "base_model": {"id": BASE_ID, "path": "/models/smollm2-135m", "hash": base_hash},
        "config": {"method": "lora"},
        "job_id": f"job-{name}",
    }
    atomic_write_json(folder / "manifest.json", manifest)
    return folder


def registry_world(root: Path, url: str, names: list[str]) -> Any:
    """A registry at `url` with adapters `names` registered (the Registry, still open)."""
    from tunewise.registry import Registry

    reg = Registry(url)
    for name in names:
        reg.register_model(make_adapter(root, name))
    return reg


def log_rows(url: str, n: int | None = None, timeout: float = 30.0) -> list[Any]:
    """The request log's rows, oldest first; with `n`, wait (polling) until there are `n`."""
    import time

    from sqlalchemy import select

    from tunewise.serve.tables import RequestLogRow
    from tunewise.store import get_engine, transaction

    deadline = time.monotonic() + timeout
    while True:
        with transaction(get_engine(url)) as s:
            rows = list(s.scalars(select(RequestLogRow).order_by(RequestLogRow.id)))
        if n is None or len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)
