"""Adapters and prompts for the local engine tests (tiny random model, adapters built in seconds)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "My card was declined at the shop, why?",
    "List three prime numbers.",
    "Translate 'good morning' into German, please.",
    "How do I reset my password? I tried twice already and it keeps failing.",
    "Summarise: the meeting moved to Tuesday at 10.",
    "Is 17 even?",
]
ADAPTERS = [None, "a1", "a2"]


def conversation(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]


def lively_copy(tiny: Path, out: Path, scale: float = 8.0) -> Path:
    """The tiny model with its weights scaled up, saved to `out`.

    At its initial scale a random model answers with one token repeated whatever the prompt, so
    a wrong position id or a misaligned KV cache would go unnoticed. Scaled up, its answers
    depend on every prompt token and position (and still keep clear gaps between the top logits).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.mul_(scale)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny).save_pretrained(out)
    return out


def build_adapter(base: Path, out: Path, seed: int, *, base_hash: str | None = None) -> Path:
    """A LoRA adapter with random (non-zero) weights and a tunewise manifest pinning `base`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tunewise.models import model_hash
    from tunewise.train.manifest import write_manifest

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    cfg = LoraConfig(
        r=4,
        lora_alpha=16,
        target_modules=["q_proj", "v_proj", "up_proj"],
        init_lora_weights=False,  # random B as well as A: the adapter changes outputs at once
    )
    get_peft_model(model, cfg).save_pretrained(out)
    write_manifest(
        out,
        kind="adapter",
        base_id="tiny",
        base_path=base,
        base_hash=base_hash or model_hash(base),
        data_dir=out,
        config={},
        metrics={},
        tokens_trained=0,
        wall_time_s=0.0,
        job_id=None,
    )
    return out


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def answer(engine: Any, i: int, adapter: str | None, **kw: Any) -> Any:
    kw.setdefault("max_tokens", 10)
    return await engine.submit(engine.render(conversation(i)), adapter=adapter, **kw).result()


async def alone(engine: Any, n: int, **kw: Any) -> list[Any]:
    """Each request on its own, one after another."""
    return [await answer(engine, i, ADAPTERS[i % 3], **kw) for i in range(n)]


async def together(engine: Any, n: int, **kw: Any) -> list[Any]:
    """All requests at once (they land in one micro-batching window)."""
    return list(await asyncio.gather(*(answer(engine, i, ADAPTERS[i % 3], **kw) for i in range(n))))
