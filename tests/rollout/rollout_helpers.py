"""Helpers for the rollout tests: a registry whose checklist is complete, gateways in front of
real OpenAI-compatible servers, and simulated users calling them with the real `openai` SDK."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_json
from tunewise.serve.testing import ServerThread

BASE_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
GOLDEN = "9" * 64
MSG = [{"role": "user", "content": "where is my parcel"}]


def dataset_folder(root: Path) -> Path:
    """A registered-dataset-shaped folder with a semver and a cost estimate."""
    folder = root / "dataset-v1"
    folder.mkdir(parents=True, exist_ok=True)
    cost = {"target": "openai:gpt-4o-mini", "training_usd": 1.25,
            "break_even": {"monthly_cost_base": 90.0, "monthly_cost_finetuned": 40.0}}  # fmt: skip
    atomic_write_json(folder / "manifest.json", {"semver": "1.0.0", "cost": cost})
    return folder


def run_folder(root: Path, name: str, dataset: Path, base_hash: str = "b" * 64) -> Path:
    """`runs/NAME/adapter` (manifest naming the dataset) with the run's decision.json."""
    run = root / name
    adapter = run / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 8, "lora_alpha": 16}))
    (adapter / "adapter_model.safetensors").write_bytes(random.Random(name).randbytes(64))
    atomic_write_json(adapter / "manifest.json", {
        "kind": "adapter", "config": {"method": "lora"}, "job_id": f"job-{name}",
        "base_model": {"id": BASE_ID, "path": "/models/smollm2-135m", "hash": base_hash},
        "dataset": {"path": str(dataset)},
    })  # fmt: skip
    atomic_write_json(run / "decision.json", {"recommendation": "fine_tune", "warnings": []})
    return adapter


def gate(candidate: str, baseline: str, feature: str, passed: bool = True) -> dict[str, Any]:
    rules = [
        {"rule": "primary_lift", "status": "pass" if passed else "block", "detail": "+12 pts"},
        {"rule": "bucket_drop", "status": "pass", "detail": "worst bucket intent:refund -1.0 pts"},
        {"rule": "safety", "status": "pass", "detail": "8 safety case(s), none worse"},
    ]
    return {"decision": "accept" if passed else "block", "candidate": candidate,
            "baseline": baseline, "golden_sha256": GOLDEN, "rules": rules, "feature": feature}  # fmt: skip


def ready_registry(root: Path, url: str, feature: str, control: str, candidates: list[str]) -> Any:
    """Control on FEATURE@production and candidates gated against it; every checklist item
    that no artifact carries is recorded."""
    from tunewise.registry import Registry
    from tunewise.serve.rollout.checklist import record_item
    from tunewise.store import get_engine

    data = dataset_folder(root)
    reg = Registry(url)
    for name in [control, *candidates]:
        reg.register_model(run_folder(root, name, data), name=name)
    reg.record_gate(gate(control, "base", feature), feature=feature, baseline=BASE_ID)
    reg.promote(control, feature=feature, reason="first release")
    for name in candidates:
        reg.record_gate(gate(name, control, feature), feature=feature)
    engine = get_engine(url)
    record_item(engine, feature, "owner", "ana@example.com", by="ana")
    record_item(engine, feature, "retrain_trigger", "daily tunewise monitor --check", by="ana")
    return reg


def gateway(url: str, upstreams: dict[str, Any], *, rollout: dict[str, Any] | None = None,
            **serve: Any) -> ServerThread:  # fmt: skip
    """A running gateway with the store at `url`, a fast flag/log cadence and a fast controller."""
    from tunewise.serve.app import create_app
    from tunewise.serve.config import ServeConfig
    from tunewise.serve.rollout.config import RolloutConfig
    from tunewise.serve.rollout.context import RolloutContext

    cfg = ServeConfig.model_validate({
        "upstreams": upstreams, "flags_ttl_s": 0.1, "log_flush_s": 0.1, "log_sample": 0.0,
        "breaker_failures": 1000, **serve,
    })  # fmt: skip
    ctx = RolloutContext(config=RolloutConfig.model_validate({"tick": "0.2s", **(rollout or {})}))
    return ServerThread(create_app(cfg, db_url=url, rollout=ctx)).start()


def scripted_upstream(
    server: ServerThread, serves: list[str] | None = None, **kw: Any
) -> dict[str, Any]:
    up = {"kind": "openai", "base_url": server.url + "/v1", "timeout_s": 5, "retries": 0, **kw}
    if serves is not None:
        up["serves"] = serves
    else:
        up["base"] = BASE_ID
    return up


@dataclass
class Reply:
    user: str
    arm: str | None
    fallback: bool
    latency_s: float
    response_id: str | None
    status: int


def send(gw: ServerThread, user: str, model: str = "support", key: str = "k") -> Reply:
    import openai

    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    started = time.monotonic()
    try:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=MSG, user=user, max_tokens=16
        )
        h = raw.headers
        return Reply(user, h.get("x-tunewise-arm"), bool(h.get("x-tunewise-fallback")),
                     time.monotonic() - started, raw.parse().id, 200)  # fmt: skip
    except openai.APIStatusError as exc:
        return Reply(user, None, False, time.monotonic() - started, None, exc.status_code)


def drive(gw: ServerThread, n: int, *, users: int = 400, workers: int = 4, seed: int | None = None,
          model: str = "support", key: str = "k") -> list[Reply]:  # fmt: skip
    """`n` requests from simulated users (ids drawn at random from `users`), `workers` at once."""
    rng = random.Random(seed)
    ids = [f"user-{rng.randrange(users)}" for _ in range(n)]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda u: send(gw, u, model, key), ids))


def set_reply(server: ServerThread, model: str, **faults: Any) -> None:
    """What the scripted server answers for `model` (`reply=...`) and how it fails."""
    import httpx

    httpx.post(server.url + "/_faults", json={"model": model, **faults}).raise_for_status()


def until(check: Callable[[], Any], *, timeout: float, step: Callable[[], Any] | None = None,
          every: float = 0.1) -> Any:  # fmt: skip
    """Call `step` (e.g. send traffic) until `check()` is truthy; AssertionError at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if step is not None:
            step()
        time.sleep(every)
    raise AssertionError(f"not reached within {timeout} s")


def rollout_state(url: str, feature: str = "support") -> dict[str, Any]:
    from tunewise.serve.rollout.api import rollout_status
    from tunewise.store import get_engine

    return rollout_status(get_engine(url), feature)
