"""What a training loop shows while it runs: a progress bar and an optional MLflow / W&B tracker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunewise.train.config import TrainConfig
from tunewise.train.context import RunContext


def progress_bar(enabled: bool) -> Any:
    """A rich progress bar with loss and tokens/s fields, on stderr."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from tunewise.cli._console import err_console

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[tps]:.0f} tok/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        disable=not enabled,
        transient=False,
    )


def tracker(
    cfg: TrainConfig, data_dir: Path, ctx: RunContext
) -> Callable[[dict[str, Any]], None] | None:
    """A callable logging one point to MLflow or W&B, or None. Their packages are imported only here."""
    if cfg.tracking == "none" or not ctx.main:
        return None
    from tunewise.errors import require

    project = cfg.tracking_project or data_dir.name
    if cfg.tracking == "mlflow":
        mlflow = require("mlflow", "train", "MLflow tracking")
        mlflow.set_experiment(project)
        mlflow.start_run(run_name=ctx.job_id)
        mlflow.log_params({k: str(v) for k, v in cfg.model_dump().items()})
        return lambda p: mlflow.log_metrics(
            {k: v for k, v in p.items() if isinstance(v, float)}, step=p["step"]
        )
    wandb = require("wandb", "train", "Weights & Biases tracking")
    run = wandb.init(project=project, name=ctx.job_id, config=cfg.model_dump())
    return lambda p: run.log({k: v for k, v in p.items() if isinstance(v, float)}, step=p["step"])
