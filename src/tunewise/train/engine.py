"""The model being trained and what steps it: optimizer, schedule, loss, batching, precision.

`Engine.step` is one optimizer step over gradient-accumulation micro-batches (the loss is the mean
over the step's trained tokens); `Engine.evaluate` the mean validation loss per trained token.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise.train import data as D
from tunewise.train.config import TrainConfig
from tunewise.train.context import RunContext
from tunewise.train.packing import pack


@dataclass
class Engine:
    """The model being trained and what steps it: optimizer, schedule, loss, batching, precision."""

    model: Any
    params: list[Any]
    optimizer: Any
    scheduler: Any
    loss_mod: Any
    accelerator: Any
    device: str
    dtype: str
    pad_id: int
    packing: bool
    max_grad_norm: float | None

    @classmethod
    def build(
        cls,
        ctx: RunContext,
        base_folder: Path,
        cfg: TrainConfig,
        total_steps: int,
        device: str,
        dtype: str,
        pad_id: int,
    ) -> Engine:
        import torch

        from tunewise.train import modeling as M

        model = M.load_trainable(base_folder, cfg, device, dtype)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        warmup = int(cfg.warmup_ratio * total_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: _lr_factor(s, warmup, total_steps)
        )
        loss_mod = M.make_loss_module(model)
        if ctx.accelerator:
            loss_mod, optimizer = ctx.accelerator.prepare(loss_mod, optimizer)
        packing = cfg.packing and M.supports_packing(model, cfg.max_length)
        if cfg.packing and not packing:
            ctx.event(
                "packing off: this model's attention kernel or sliding window rules out custom masks",
                level="warn",
            )
        return cls(
            model, params, optimizer, scheduler, loss_mod, ctx.accelerator,
            device, dtype, pad_id, packing, cfg.max_grad_norm,
        )  # fmt: skip

    def batch(self, examples: list[D.Example]) -> dict[str, Any]:
        return pack(examples, self.pad_id) if self.packing else D.collate(examples, self.pad_id)

    def autocast(self) -> Any:
        import torch

        on = self.dtype == "bfloat16"
        return torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=on)

    def loss_of(self, b: dict[str, Any]) -> tuple[Any, Any]:
        """Summed loss and trained-token count of one batch."""
        position_ids = b["position_ids"].to(self.device) if "position_ids" in b else None
        return self.loss_mod(
            b["input_ids"].to(self.device),
            b["attention_mask"].to(self.device),
            b["targets"].to(self.device),
            position_ids,
        )  # type: ignore[no-any-return]

    def step(self, micro: list[dict[str, Any]]) -> tuple[float, int]:
        """One optimizer step over gradient-accumulation micro-batches: (summed loss, tokens)."""
        import torch

        n_loss = sum(m["n_loss"] for m in micro)
        total = 0.0
        for m in micro:
            with self.autocast():
                s, _n = self.loss_of(m)
            loss = s / n_loss  # mean over the step's trained tokens, not per micro-batch
            if self.accelerator:
                self.accelerator.backward(loss)
            else:
                loss.backward()
            total += float(s.detach())
        if self.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total, n_loss

    def evaluate(self, examples: list[D.Example], batch_size: int) -> float | None:
        """Mean loss per trained token over `examples` (None without any)."""
        if not examples:
            return None
        import torch

        self.model.eval()
        total, count = 0.0, 0
        order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
        with torch.no_grad(), self.autocast():
            for i in range(0, len(order), batch_size * 2):
                s, n = self.loss_of(
                    self.batch([examples[j] for j in order[i : i + batch_size * 2]])
                )
                total, count = total + float(s), count + int(n)
        self.model.train()
        return total / max(1, count)


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return max(0.0, (total - step) / max(1, total - warmup))
