"""Loading what the local engine serves: one base model, then LoRA adapters checked against it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise.errors import ModelError


@dataclass
class LoadedBase:
    """The loaded base: model (a PeftModel once an adapter is attached), tokenizer and identity."""

    model: Any
    tokenizer: Any
    folder: Path
    hash: str
    context: int
    """Longest sequence (prompt plus answer) the model takes."""
    eos_ids: frozenset[int]
    device: str = "cpu"
    """Where the weights live and the batch's tensors are made (`cpu`, `cuda`, `cuda:1`)."""


def resolve_device(device: str) -> str:
    """`auto` -> `cuda` when torch sees a GPU, else `cpu`; ModelError for a GPU that is not there."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if not device.startswith("cuda"):
        raise ModelError(f"device '{device}': use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ModelError(
            f"device '{device}': torch sees no CUDA GPU here (torch {torch.__version__}); "
            "use device: auto or cpu"
        )
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ModelError(
            f"device '{device}': only {torch.cuda.device_count()} CUDA device(s) are visible"
        )
    return device


def load_base(base: str, *, dtype: str = "float32", device: str = "cpu") -> LoadedBase:
    """The base model for serving on `device` (see `resolve_device`); refuses architectures whose
    KV cache the engine cannot batch."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache
    from transformers.cache_utils import DynamicLayer

    from tunewise.models import model_hash, resolve_base

    folder = resolve_base(base)
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(
            folder, dtype=getattr(torch, dtype), attn_implementation="sdpa"
        )
        tok = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot load base model from {folder}: {exc}") from exc
    device = resolve_device(device)
    model.to(device)
    model.eval()
    layers = DynamicCache(config=model.config).layers
    if any(type(layer) is not DynamicLayer for layer in layers):
        raise ModelError(
            f"{folder}: the local upstream batches full-attention KV caches only; this model uses "
            f"{sorted({type(layer).__name__ for layer in layers})}; serve it through an `openai` "
            "upstream (vLLM) instead"
        )
    eos = model.generation_config.eos_token_id
    eos_ids = {tok.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}
    context = int(getattr(model.config, "max_position_embeddings", 0) or tok.model_max_length)
    return LoadedBase(model, tok, folder, model_hash(folder), context, frozenset(eos_ids), device)


def check_adapter(name: str, path: str | Path, base: LoadedBase) -> Path:
    """The adapter folder, after checking it is a LoRA adapter trained on exactly this base."""
    from tunewise.train.adapters import check_base
    from tunewise.train.manifest import read_manifest

    folder = Path(path)
    manifest = read_manifest(folder)
    if manifest.get("kind") == "full":
        raise ModelError(
            f"adapter '{name}' ({folder}) is a full fine-tune, not an adapter: serve it as a base "
            "model of its own upstream"
        )
    if not (folder / "adapter_config.json").is_file():
        raise ModelError(f"adapter '{name}': {folder} has no adapter_config.json (not PEFT)")
    check_base(folder, base.folder)  # the base hash in its manifest must be the loaded base's
    return folder


def attach_adapter(base: LoadedBase, name: str, path: str | Path) -> None:
    """Load a checked adapter next to the others under `name` (the first one wraps the model)."""
    from peft import PeftModel

    folder = check_adapter(name, path, base)
    try:
        if isinstance(base.model, PeftModel):
            if name in base.model.peft_config:
                raise ModelError(f"an adapter named '{name}' is already loaded; pick another name")
            base.model.load_adapter(str(folder), adapter_name=name)
        else:
            base.model = PeftModel.from_pretrained(base.model, str(folder), adapter_name=name)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:  # PEFT's errors for bad folders
        raise ModelError(f"cannot load adapter '{name}' from {folder}: {exc}") from exc
    base.model.eval()
