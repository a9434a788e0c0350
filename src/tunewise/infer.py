"""Local batched greedy chat generation, with or without an adapter.

Prompts go through the model's chat template, are sorted by length so a batch holds prompts of
similar size (little padding), padded on the left and decoded greedily. Outputs come back in the
input order. Loaded models are kept per (base, adapter, dtype) for the life of the process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.artifacts import sha256_file
from tunewise.errors import ModelError

Messages = list[dict[str, Any]]


@dataclass
class Loaded:
    """A model ready for generation, with the identity that pins it (used as a cache key)."""

    model: Any
    tokenizer: Any
    identity: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Generation:
    """One generated answer with its token counts and the wall time of the batch that produced it."""

    text: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    finished: bool = True
    """False when the answer was cut off by max_new_tokens (no end-of-sequence token)."""


_LOADED: dict[tuple[str, str | None, str], Loaded] = {}
_KEEP_LOADED = 3


def adapter_hash(adapter: str | Path) -> str:
    """sha256 over an adapter folder's PEFT config and weights: pins the exact adapter."""
    import hashlib

    folder = Path(adapter)
    files = sorted(p for p in folder.iterdir() if p.name.startswith("adapter_") and p.is_file())
    if not files:
        raise ModelError(
            f"{folder}: not a PEFT adapter folder (no adapter_config.json / adapter_model.*)"
        )
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode() + b"\0" + sha256_file(p).encode() + b"\n")
    return h.hexdigest()


def adapter_identity(adapter: str | Path) -> str:
    """Content hash of what `adapter` adds: the PEFT weights hash, or model_hash for a full-model folder."""
    from tunewise.models import model_hash

    return (
        adapter_hash(adapter)
        if (Path(adapter) / "adapter_config.json").is_file()
        else model_hash(adapter)
    )


def load(base: str, adapter: str | Path | None = None, *, dtype: str = "float32") -> Loaded:
    """Load a base model (name or folder) and optionally apply an adapter, refusing one trained on another base.

    Loading and the manifest check are the training stage's (`train.adapters.load_for_inference`);
    models are kept per (base hash, adapter hash, dtype) for the life of the process.
    """
    from tunewise.models import model_hash, resolve_base
    from tunewise.train.adapters import check_base, load_for_inference

    folder = resolve_base(str(base))
    identity: dict[str, str | None] = {
        "base": str(base),
        "base_hash": model_hash(folder),
        "adapter_hash": None,
    }
    if adapter is not None:
        check_base(adapter, folder)  # every time: a cached model must not skip the check
        identity["adapter_hash"] = adapter_identity(adapter)
        identity["adapter"] = str(adapter)
    # Keyed by content hashes: an adapter retrained in place is loaded again, not served stale.
    key = (identity["base_hash"] or "", identity["adapter_hash"], dtype)
    if key not in _LOADED:
        model, tok = load_for_inference(folder, adapter, dtype=dtype)
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        while len(_LOADED) >= _KEEP_LOADED:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = Loaded(model.eval(), tok, identity)
    return _LOADED[key]


def unload() -> None:
    """Drop every model kept loaded (a trainer that generated once frees the memory for training)."""
    _LOADED.clear()


def render_prompts(tokenizer: Any, messages_batch: list[Messages]) -> list[list[int]]:
    """Token ids of each conversation through the chat template, with the generation prompt."""
    return [
        list(
            tokenizer.apply_chat_template(
                m, add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"]
        )
        for m in messages_batch
    ]


def generate(
    messages_batch: list[Messages],
    base: str,
    adapter: str | Path | None = None,
    *,
    max_new_tokens: int = 64,
    batch_size: int = 16,
    bf16: bool = False,
) -> list[Generation]:
    """Greedy answers to each conversation, in input order.

    `batch_size=1` is plain sequential generation. `bf16=True` runs under bfloat16 autocast; it is
    faster on CPUs with AMX but may change a greedy token now and then (see bench/generate_batched.py).
    """
    loaded = load(base, adapter)
    prompts = render_prompts(loaded.tokenizer, messages_batch)
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    out: list[Generation | None] = [None] * len(prompts)
    for start in range(0, len(order), max(1, batch_size)):
        idx = order[start : start + max(1, batch_size)]
        for i, gen in zip(
            idx,
            _generate_batch(loaded, [prompts[i] for i in idx], max_new_tokens, bf16),
            strict=True,
        ):
            out[i] = gen
    return [g for g in out if g is not None]


def _generate_batch(
    loaded: Loaded, prompts: list[list[int]], max_new_tokens: int, bf16: bool
) -> list[Generation]:
    import torch

    tok = loaded.tokenizer
    width = max(len(p) for p in prompts)
    pad = tok.pad_token_id
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    t0 = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        seqs = loaded.model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad,
            eos_token_id=tok.eos_token_id,
        )
    elapsed = time.perf_counter() - t0
    results = []
    for p, row in zip(prompts, seqs[:, width:].tolist(), strict=True):
        end = next((k + 1 for k, t in enumerate(row) if t == tok.eos_token_id), None)
        n = end or len(row)
        text = tok.decode(row[:n], skip_special_tokens=True).strip()
        results.append(Generation(text, len(p), n, elapsed, finished=end is not None))
    return results
