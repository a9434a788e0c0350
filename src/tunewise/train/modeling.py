"""Building the model to train: precision choice, frozen base + LoRA / full / QLoRA, and the loss.

Speed notes (measured in bench/train_throughput.py):
- The loss is computed from hidden states at labelled positions only: the 49k-vocabulary head and
  its softmax dominate a small model's step when run on every prompt token, and carry no loss there.
- Batches are packed (`packing.pack`): no padding, and the rows' common prefix runs once.
- bf16 pays only where the hardware does bf16 natively (CUDA, CPUs with AMX or AVX512-BF16): there
  the frozen base is stored in bf16 and the fp32 adapters run under bf16 autocast. Elsewhere bf16 is
  emulated and several times slower than fp32, so `compute_dtype: auto` picks fp32.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from tunewise.errors import ModelError
from tunewise.train.config import TrainConfig


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU has AMX-BF16 or AVX512-BF16 (Linux /proc/cpuinfo flags)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def pick_dtype(cfg: TrainConfig, device: str) -> str:
    """'bfloat16' or 'float32' for this config on this device."""
    if cfg.compute_dtype != "auto":
        return cfg.compute_dtype
    if cfg.method == "full":
        return "float32"  # full fine-tuning keeps fp32 master weights
    if device.startswith("cuda"):
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    return "bfloat16" if cpu_has_native_bf16() else "float32"


def default_threads() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def load_trainable(folder: str | Path, cfg: TrainConfig, device: str, dtype: str) -> Any:
    """The base model with what `cfg.method` trains made trainable (LoRA adapters in fp32)."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype), "attn_implementation": "sdpa"}
    if cfg.method == "qlora":
        kwargs.update(_qlora_kwargs(device))
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(
            f"cannot load base model from {folder}: {exc}; check the folder or re-run resolve"
        ) from exc
    model.config.use_cache = False
    if cfg.method == "full":
        model.to(device)  # type: ignore[arg-type]
        model.train()
        return model
    from peft import LoraConfig, get_peft_model

    if cfg.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    peft_cfg = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=list(cfg.lora.target_modules),
        task_type="CAUSAL_LM",
    )
    try:
        model = get_peft_model(model, peft_cfg)
    except ValueError as exc:
        raise ModelError(f"train.lora.target_modules {cfg.lora.target_modules}: {exc}") from exc
    if cfg.init_adapter:
        warm_start(model, Path(cfg.init_adapter), cfg)
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()  # adapters train in fp32 whatever the base precision
    model.to(device)  # type: ignore[arg-type]
    model.train()
    return model


def warm_start(model: Any, folder: Path, cfg: TrainConfig) -> None:
    """Load a trained adapter's LoRA weights into the fresh PEFT model (train.init_adapter);
    ModelError when it is missing or its rank or target modules differ from train.lora's."""
    import json

    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    where = f"train.init_adapter {folder}"
    try:
        saved = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
        weights = load_file(str(folder / "adapter_model.safetensors"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{where}: not a LoRA adapter folder ({exc})") from None
    targets = sorted(saved.get("target_modules") or [])
    if saved.get("r") != cfg.lora.r or targets != sorted(cfg.lora.target_modules):
        raise ModelError(f"{where}: rank {saved.get('r')} on {targets} does not match train.lora "
                         f"(rank {cfg.lora.r} on {sorted(cfg.lora.target_modules)})")  # fmt: skip
    result: Any = set_peft_model_state_dict(model, weights)
    if result.unexpected_keys:
        raise ModelError(f"{where}: {len(result.unexpected_keys)} weight(s) the model lacks, e.g. "
                         f"{result.unexpected_keys[0]}")  # fmt: skip


def _qlora_kwargs(device: str) -> dict[str, Any]:
    import importlib.util

    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        raise ModelError(
            "method qlora needs a CUDA GPU (4-bit bitsandbytes kernels); use --method lora on CPU"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelError(
            "method qlora needs bitsandbytes: pip install bitsandbytes (or use --method lora)"
        )
    from transformers import BitsAndBytesConfig

    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        )
    }


def _hf_model(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def make_loss_module(model: Any) -> Any:
    """An nn.Module returning (sum of token losses, number of loss tokens) for a batch.

    Takes either layout of a batch: `data.collate`'s padded rows (2D mask) or `packing.pack`'s
    packed chunks (4D block mask and per-row `position_ids`); `targets[:, t]` is the token position
    t predicts. Runs the decoder, then the LM head only where targets are set: the 49k-vocabulary
    head is a large share of a small model's step when run on every prompt token. Models whose head
    does more than a projection (logit soft-capping) run the full forward.
    """
    import torch

    class SelectedTokenLoss(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self, input_ids: Any, attention_mask: Any, targets: Any, position_ids: Any = None
        ) -> tuple[Any, Any]:
            hf = _hf_model(self.inner)
            sel = targets != -100
            inputs = {
                "input_ids": input_ids,
                "attention_mask": attention_mask,
                "position_ids": position_ids,
                "use_cache": False,
            }
            if getattr(hf.config, "final_logit_softcapping", None) or not hasattr(
                hf, "get_decoder"
            ):
                picked = self.inner(**inputs).logits[sel].float()
            else:
                hidden = hf.get_decoder()(**inputs).last_hidden_state
                picked = hf.get_output_embeddings()(hidden[sel]).float()
            loss = torch.nn.functional.cross_entropy(picked, targets[sel], reduction="sum")
            return loss, sel.sum()

    return SelectedTokenLoss(model)


def supports_packing(model: Any, max_length: int) -> bool:
    """Whether packed batches (custom 4D attention masks) are exact for this model.

    Needs SDPA or eager attention (flash-attention kernels take no custom masks) and no sliding
    window shorter than a row could be (a 4D mask replaces the model's own window).
    """
    cfg = _hf_model(model).config
    if getattr(cfg, "_attn_implementation", "sdpa") not in ("sdpa", "eager"):
        return False
    window = getattr(cfg, "sliding_window", None)
    return not (window and window < max_length)


def trainable_state(model: Any) -> dict[str, Any]:
    """Copies of the trained parameters (adapters, or everything for full fine-tuning)."""
    return {n: p.detach().clone().cpu() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model: Any, state: dict[str, Any]) -> None:
    params = dict(model.named_parameters())
    missing = [n for n in state if n not in params]
    if missing:
        raise ModelError(
            f"checkpoint does not match the model ({len(missing)} unknown parameters, e.g. {missing[0]})"
        )
    import torch

    with torch.no_grad():
        for n, t in state.items():
            params[n].copy_(t.to(params[n].device))
