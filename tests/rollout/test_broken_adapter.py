"""A deliberately broken adapter (NaN LoRA weights: it answers with empty strings) that slipped
past the offline gate, served by the `local` upstream on a real (tiny) model next to a working
control adapter, is rolled back automatically on live traffic with its figures in the registry."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from rollout_helpers import GOLDEN, drive, gateway, rollout_state, until

from tunewise.serve.rollout.api import start_rollout
from tunewise.serve.rollout.config import RolloutConfig
from tunewise.store import get_engine

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from local_helpers import build_adapter, lively_copy


def break_adapter(folder: Path) -> Path:
    """Overwrite the adapter's LoRA B matrices with NaN (the manifest stays as it was)."""
    import torch
    from safetensors.torch import load_file, save_file

    path = folder / "adapter_model.safetensors"
    weights = load_file(path)
    save_file(
        {k: torch.full_like(v, float("nan")) if "lora_B" in k else v for k, v in weights.items()},
        path,
    )
    return folder


def test_a_broken_adapter_is_rolled_back_on_live_traffic(tiny_model: Path, tmp_path: Path) -> None:
    from tunewise.registry import Registry

    model = lively_copy(tiny_model, tmp_path / "model")
    url = f"sqlite:///{tmp_path / 'tunewise.db'}"
    reg = Registry(url)
    reg.register_model(build_adapter(model, tmp_path / "support-v1", 1), name="support-v1")
    reg.register_model(
        break_adapter(build_adapter(model, tmp_path / "broken", 2)), name="support-broken"
    )
    for cand, ref in (("support-v1", "base"), ("support-broken", "support-v1")):
        reg.record_gate({"decision": "accept", "candidate": cand, "baseline": ref, "golden_sha256": GOLDEN,
                         "rules": []}, feature="support", baseline=None if ref != "base" else "tiny")  # fmt: skip
        if cand == "support-v1":
            reg.promote("support-v1", feature="support", reason="first release")
    local = {
        "kind": "local",
        "base": str(model),
        "served_name": "tiny",
        "max_tokens": 16,
        "max_batch": 8,
    }
    gw = gateway(url, {"laptop": local})
    try:
        cfg = RolloutConfig(
            steps=[50, 100], interval="1s", min_requests=40, min_samples=10, tick="0.2s"
        )
        start_rollout(get_engine(url), "support-broken", "support", cfg=cfg, by="ana")
        st = until(lambda: rollout_state(url)["state"] != "running" and rollout_state(url),
                   timeout=240, step=lambda: drive(gw, 16))  # fmt: skip
    finally:
        gw.stop()
    assert st["state"] == "rolled_back", st["outcome"]
    last = st["decisions"][-1]
    chars = next(m for m in last["figures"]["metrics"] if m["metric"] == "chars")
    assert chars["verdict"] == "fail" and chars["canary"] == 0 and chars["control"] > 10
    event = reg.events(feature="support", kind="rollout.rolled_back")[0]
    assert event["model"] == "support-broken" and "chars" in event["detail"]["reason"]
    assert reg.holder("support") == "support-v1"
    reg.close()
