"""`tunewise merge`: fold a LoRA adapter into its base and write a plain Hugging Face model folder."""

from __future__ import annotations

from pathlib import Path

from tunewise.artifacts import atomic_write_json
from tunewise.errors import ModelError


def merge_adapter(adapter: str | Path, out: str | Path, base: str | None = None) -> Path:
    """Merge `adapter` into its base (the manifest's, unless `base` is given) and save to `out`."""
    from tunewise.models import model_hash
    from tunewise.train.adapters import load_for_inference
    from tunewise.train.manifest import read_manifest

    manifest = read_manifest(adapter)
    if manifest.get("kind") == "full":
        raise ModelError(f"{adapter} is already a full model; nothing to merge")
    base_ref = base or manifest["base_model"].get("path") or manifest["base_model"]["id"]
    model, tok = load_for_inference(base_ref, adapter)
    merged = model.merge_and_unload()
    out = Path(out)
    merged.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    merged_manifest = dict(
        manifest, kind="full", merged_from=str(Path(adapter).resolve()), merged_hash=model_hash(out)
    )
    atomic_write_json(out / "manifest.json", merged_manifest)
    return out
