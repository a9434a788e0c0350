"""Loading a trained adapter for inference, refusing a base model it was not trained on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunewise.errors import ModelError


def check_base(adapter: str | Path, base_folder: str | Path) -> dict[str, Any]:
    """The adapter's manifest, after checking `base_folder` has the hash it was trained on."""
    from tunewise.models import model_hash
    from tunewise.train.manifest import read_manifest

    manifest = read_manifest(adapter)
    want = manifest["base_model"].get("hash")
    have = model_hash(base_folder)
    if want != have:
        raise ModelError(
            f"adapter {adapter} was trained on base {manifest['base_model'].get('id')} with hash {str(want)[:12]}..., "
            f"but {base_folder} has hash {have[:12]}... (a different or modified model); load it on the "
            f"base it was trained on ({manifest['base_model'].get('path')}) or retrain"
        )
    return manifest


def load_for_inference(
    base: str | Path, adapter: str | Path | None = None, *, dtype: str | None = None
) -> tuple[Any, Any]:
    """(model, tokenizer) ready for generation: the base, with the adapter applied when given.

    `base` is anything `resolve_base` accepts. An adapter whose manifest pins a different base hash
    is refused with a ModelError. A `kind: full` output folder is loaded as the model itself.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunewise.models import resolve_base

    base_folder = resolve_base(str(base))
    manifest = check_base(adapter, base_folder) if adapter is not None else None
    torch_dtype = getattr(torch, dtype) if dtype else torch.float32
    source = (
        Path(adapter)
        if adapter is not None and manifest and manifest.get("kind") == "full"
        else base_folder
    )
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
        tok = AutoTokenizer.from_pretrained(
            source if (source / "tokenizer_config.json").is_file() else base_folder
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot load model from {source}: {exc}") from exc
    if adapter is not None and manifest and manifest.get("kind") != "full":
        if not (Path(adapter) / "adapter_config.json").is_file():
            raise ModelError(f"{adapter}: no adapter_config.json; not a PEFT adapter folder")
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    return model, tok
