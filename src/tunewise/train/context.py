"""Who runs a training loop (`RunContext`) and how far it got (`TrainState`, what a checkpoint carries)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tunewise.train.jobs import JobStore


@dataclass
class TrainState:
    """Everything about progress that a checkpoint must carry besides weights and optimizer."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens: int = 0
    positions: int = 0
    shared_tokens: int = 0
    loss_sum: float = 0.0
    """Summed loss over every trained token so far (with `loss_count`: the job's mean train loss)."""
    loss_count: int = 0
    best_valid: float | None = None
    bad_evals: int = 0
    train_time_s: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunContext:
    """Who is running: the job (None on non-zero ranks), the store, the accelerator if distributed."""

    job_id: str | None
    store: JobStore | None
    progress: bool = True
    accelerator: Any = None
    on_eval: Callable[[int, float], None] | None = None
    """Called with (evaluation number, validation loss) after each evaluation (the search's pruner)."""
    trackers: list[Any] = field(default_factory=list)
    """Open MLflow / W&B runs (`tracking.start`), fed by `track` at every optimizer step."""

    @property
    def main(self) -> bool:
        return self.accelerator is None or self.accelerator.is_main_process

    def event(
        self,
        message: str,
        level: str = "info",
        type: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        if self.main and self.store and self.job_id:
            self.store.event(self.job_id, message, level=level, type=type, data=data)

    def track(self, point: dict[str, Any]) -> None:
        """Send one step's metrics to every tracker; one that fails is dropped with a warning."""
        for t in list(self.trackers):
            try:
                t.log(point)
            except Exception as exc:  # a tracking server going down must not cost the run
                self.trackers.remove(t)
                self.event(f"{t.name} tracking stopped: {exc}", level="warn")

    def cancelled(self) -> bool:
        """Whether the job's cancel flag is set (agreed across ranks when distributed)."""
        flag = bool(
            self.main and self.store and self.job_id and self.store.cancel_requested(self.job_id)
        )
        if self.accelerator and self.accelerator.num_processes > 1:
            import torch

            t = torch.tensor([int(flag)], device=self.accelerator.device)
            flag = bool(self.accelerator.reduce(t, reduction="sum").item())
        return flag
