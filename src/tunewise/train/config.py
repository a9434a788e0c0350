"""Configuration of the training stage (the `train:` section of tunewise.yaml)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class LoraConfig(_Section):
    r: int = Field(16, gt=0)
    """LoRA rank."""
    alpha: int = Field(32, gt=0)
    """LoRA scaling numerator (scale = alpha / r)."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout on the LoRA input."""
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    """Module names that get adapters."""


class TrainConfig(_Section):
    """Local fine-tuning settings."""

    base: str = "smollm2-135m"
    """Base model: `smollm2-135m` (bundled), a local Hugging Face folder, or a hub id."""
    method: Literal["lora", "qlora", "full", "dpo"] = "lora"
    epochs: int | Literal["auto"] = "auto"
    """Epochs; auto picks from the data size (OpenAI's heuristic)."""
    learning_rate: float = Field(1e-3, gt=0)
    batch_size: int = Field(8, gt=0)
    """Rows per optimizer step before accumulation."""
    gradient_accumulation: int = Field(1, gt=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    max_length: int = Field(512, gt=0)
    """Longest row in tokens."""
    excess_length: Literal["drop", "truncate", "error"] = "truncate"
    """What to do with rows longer than max_length (counts are reported)."""
    seed: int = 0
    lora: LoraConfig = Field(default_factory=LoraConfig)
