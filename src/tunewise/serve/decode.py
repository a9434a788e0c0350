"""The running batch of the local engine: rows join and leave at step boundaries (continuous batching).

Every row keeps its own slice of one KV cache. Rows are left-padded to a common cache length and
carry their own position ids and attention-mask columns, so a row's numbers are those it would get
alone: greedy output does not depend on which requests share the batch. A joining group is
prefilled on its own (left-padded among itself) and then merged into the running cache; rows that
finish are cut out, and cache columns that no remaining row uses are trimmed from the left.
Rows for different adapters of one base share a forward pass through PEFT's mixed-adapter batches
(`adapter_names`, one name per row, `"__base__"` for the plain model).
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from typing import Any

BASE = "__base__"


@dataclass(eq=False)
class Job:
    """One generation request as the decode loop sees it."""

    prompt_ids: list[int]
    adapter: str | None = None
    max_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    deadline: float = float("inf")
    """`time.monotonic()` by which the answer must be done."""
    cancelled: bool = False
    """Set by the requester (gone, timed out) or once finished: the row leaves at the next step."""
    generated: list[int] = field(default_factory=list)
    generator: Any = None  # torch.Generator for sampled rows


class DecodeBatch:
    """The rows being decoded together and their shared KV cache."""

    def __init__(self, model: Any, *, peft: bool, device: str = "cpu") -> None:
        self.model = model
        self.peft = peft  # pass adapter_names (the model is a PeftModel)
        self.device = device  # the model's: every tensor the batch makes is made there
        self.jobs: list[Job] = []
        self.cache: Any = None
        self.mask: Any = None  # (rows, cache length) 1 where a cache column is a real token
        self.positions: Any = None  # (rows,) position id of each row's next input token
        self.last: Any = None  # (rows,) each row's latest token, the next step's input

    def add(self, jobs: list[Job]) -> list[int]:
        """Prefill `jobs` as one left-padded group, merge them into the batch; their first tokens."""
        import torch
        from transformers import DynamicCache

        width, dev = max(len(j.prompt_ids) for j in jobs), self.device
        ids = torch.tensor(
            [[0] * (width - len(j.prompt_ids)) + j.prompt_ids for j in jobs], device=dev
        )
        mask = torch.tensor(
            [[0] * (width - len(j.prompt_ids)) + [1] * len(j.prompt_ids) for j in jobs], device=dev
        )
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        logits = self._forward(jobs, ids, mask, positions, cache)
        for j in jobs:
            if j.temperature > 0:
                # on the logits' device: torch.multinomial takes no CPU generator for CUDA input
                j.generator = torch.Generator(device=dev).manual_seed(
                    j.seed if j.seed is not None else int.from_bytes(os.urandom(8), "little") >> 1
                )
        tokens = choose(logits, jobs)
        self._merge(jobs, cache, mask, positions[:, -1] + 1, torch.tensor(tokens, device=dev))
        return tokens

    def step(self) -> list[int]:
        """One decoding step for every row; the token each row produced."""
        import torch

        ones = torch.ones(len(self.jobs), 1, dtype=self.mask.dtype, device=self.device)
        self.mask = torch.cat([self.mask, ones], dim=1)
        logits = self._forward(
            self.jobs, self.last[:, None], self.mask, self.positions[:, None], self.cache
        )
        tokens = choose(logits, self.jobs)
        self.positions = self.positions + 1
        self.last = torch.tensor(tokens, device=self.device)
        return tokens

    def keep(self, rows: list[int]) -> None:
        """Keep only these rows (by index), dropping cache columns no remaining row needs."""
        import torch

        if len(rows) == len(self.jobs):
            return
        self.jobs = [self.jobs[i] for i in rows]
        if not rows:
            self.cache = self.mask = self.positions = self.last = None
            return
        index = torch.tensor(rows, device=self.device)
        self.mask, self.positions, self.last = (
            self.mask[index],
            self.positions[index],
            self.last[index],
        )
        start = int((self.mask.sum(0) > 0).int().argmax())  # first column some row still uses
        self.mask = self.mask[:, start:]
        for layer in self.cache.layers:
            layer.keys = layer.keys[index, :, start:]
            layer.values = layer.values[index, :, start:]

    def _forward(self, jobs: list[Job], ids: Any, mask: Any, positions: Any, cache: Any) -> Any:
        import torch

        kwargs: dict[str, Any] = {_cache_kwarg(_hf_model(self.model)): cache}
        if self.peft:
            kwargs["adapter_names"] = [j.adapter or BASE for j in jobs]
        with torch.inference_mode():
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=1,  # the vocabulary head only where the next token is chosen
                **kwargs,
            )
        return out.logits[:, -1, :]

    def _merge(self, jobs: list[Job], cache: Any, mask: Any, positions: Any, last: Any) -> None:
        import torch

        if not self.jobs:
            self.jobs, self.cache, self.mask = list(jobs), cache, mask
            self.positions, self.last = positions, last
            return
        width = max(self.mask.shape[1], mask.shape[1])
        pad = torch.nn.functional.pad
        for mine, theirs in zip(self.cache.layers, cache.layers, strict=True):
            for name in ("keys", "values"):
                a, b = getattr(mine, name), getattr(theirs, name)
                # pad the sequence axis (dim 2 of batch, heads, seq, head_dim) on the left
                a = pad(a, (0, 0, width - a.shape[2], 0))
                b = pad(b, (0, 0, width - b.shape[2], 0))
                setattr(mine, name, torch.cat([a, b], dim=0))
        self.mask = torch.cat(
            [pad(self.mask, (width - self.mask.shape[1], 0)), pad(mask, (width - mask.shape[1], 0))]
        )
        self.positions = torch.cat([self.positions, positions])
        self.last = torch.cat([self.last, last])
        self.jobs.extend(jobs)


def _hf_model(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


_CACHE_KWARG: dict[type, str] = {}


def _cache_kwarg(model: Any) -> str:
    """transformers 5.24 renamed `past_key_values` to `cache` (the old name warns until 5.40)."""
    cls = type(model)
    if cls not in _CACHE_KWARG:
        params = inspect.signature(cls.forward).parameters
        _CACHE_KWARG[cls] = "cache" if "cache" in params else "past_key_values"
    return _CACHE_KWARG[cls]


def choose(logits: Any, jobs: list[Job]) -> list[int]:
    """The next token of each row: argmax for temperature 0, else seeded top-p sampling."""
    import torch

    tokens = logits.argmax(-1).tolist()
    for i, j in enumerate(jobs):
        if j.temperature <= 0:
            continue
        probs = torch.softmax(logits[i].float() / j.temperature, dim=-1)
        if j.top_p < 1.0:
            sorted_p, order = probs.sort(descending=True)
            outside = (
                sorted_p.cumsum(-1) - sorted_p > j.top_p
            )  # keep the smallest set reaching top_p
            sorted_p[outside] = 0.0
            probs = torch.zeros_like(probs).scatter_(0, order, sorted_p)
        tokens[i] = int(torch.multinomial(probs, 1, generator=j.generator))
    return tokens
