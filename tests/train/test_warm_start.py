"""train.init_adapter: continued fine-tuning starts from a trained adapter's LoRA weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tunewise.errors import ModelError
from tunewise.train.config import TrainConfig

LORA = {"r": 4, "alpha": 8}


def _trained_adapter(tiny_model: Path, folder: Path) -> dict[str, torch.Tensor]:
    """A saved adapter with non-zero weights (as training leaves them), and those weights."""
    from tunewise.train import modeling as M

    model = M.load_trainable(tiny_model, TrainConfig(lora=LORA), "cpu", "float32")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.02)
    model.save_pretrained(folder, safe_serialization=True)
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def test_the_fresh_model_starts_from_the_adapter_weights(tiny_model: Path, tmp_path: Path) -> None:
    from tunewise.train import modeling as M

    saved = _trained_adapter(tiny_model, tmp_path / "parent")
    fresh = M.load_trainable(tiny_model, TrainConfig(lora=LORA), "cpu", "float32")
    warm = M.load_trainable(
        tiny_model, TrainConfig(lora=LORA, init_adapter=str(tmp_path / "parent")), "cpu", "float32"
    )
    fresh_b = {n: p for n, p in fresh.named_parameters() if "lora_B" in n}
    assert fresh_b and all(
        float(p.detach().abs().sum()) == 0 for p in fresh_b.values()
    )  # LoRA B starts at 0
    params = dict(warm.named_parameters())
    assert set(saved) <= set(params)
    for n, t in saved.items():
        assert params[n].requires_grad and torch.equal(params[n].detach(), t), n


def test_a_mismatched_or_missing_adapter_is_named(tiny_model: Path, tmp_path: Path) -> None:
    from tunewise.train import modeling as M

    _trained_adapter(tiny_model, tmp_path / "parent")
    other = TrainConfig(lora={"r": 8, "alpha": 16}, init_adapter=str(tmp_path / "parent"))
    with pytest.raises(ModelError, match=r"rank 4 .* does not match train.lora \(rank 8"):
        M.load_trainable(tiny_model, other, "cpu", "float32")
    missing = TrainConfig(lora=LORA, init_adapter=str(tmp_path / "nowhere"))
    with pytest.raises(ModelError, match="not a LoRA adapter folder"):
        M.load_trainable(tiny_model, missing, "cpu", "float32")
    with pytest.raises(ValueError, match="method full cannot use it"):
        TrainConfig(method="full", init_adapter=str(tmp_path / "parent"))
