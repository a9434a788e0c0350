"""Experiment tracking for local jobs: MLflow and Weights & Biases, when configured.

`train.tracking: auto` (the default) follows transformers' conventions: MLflow is on when
`MLFLOW_TRACKING_URI` is set, W&B when `WANDB_PROJECT` is set (and neither `WANDB_DISABLED` nor
`WANDB_MODE=disabled`); `mlflow` or `wandb` turns one on explicitly, `none` turns both off. The
experiment (MLflow) or project (W&B) is `MLFLOW_EXPERIMENT_NAME` / `WANDB_PROJECT`, else
`train.tracking_project`, else the dataset folder's name.

Each job is one run named after its job id (a resumed job continues the same run): the train
config as flattened params, train loss / validation loss / learning rate / tokens per second at
every optimizer step, and at the end the output folder (adapter weights, manifest, curves.json,
loss.png) as an artifact. `HF_MLFLOW_LOG_ARTIFACTS=false` or `WANDB_LOG_MODEL=false` leave the
artifact out. A tracker that fails mid-run is dropped with a warning event: a tracking server
going down should not cost the training run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from tunewise.errors import ConfigError, MissingDependencyError, require
from tunewise.train.config import TrainConfig

_FALSE = {"0", "false", "no", "off"}
METRICS = ("train_loss", "valid_loss", "learning_rate", "tokens_per_s", "epoch")


class Tracker(Protocol):
    name: str

    def log(self, point: Mapping[str, Any]) -> None:
        """One optimizer step's metrics (`point["step"]` is the step)."""

    def finish(self, out: Path | None, status: str) -> None:
        """Upload `out` (the adapter folder) unless None, and close the run with `status`."""


def wanted(cfg: TrainConfig, env: Mapping[str, str] | None = None) -> list[str]:
    """The trackers this config and environment turn on."""
    env = os.environ if env is None else env
    if cfg.tracking == "none":
        return []
    if cfg.tracking != "auto":
        return [cfg.tracking]
    out = []
    if env.get("MLFLOW_TRACKING_URI"):
        out.append("mlflow")
    wandb_off = env.get("WANDB_DISABLED", "").lower() in {"1", "true", "yes"} or (
        env.get("WANDB_MODE", "").lower() == "disabled"
    )
    if env.get("WANDB_PROJECT") and not wandb_off:
        out.append("wandb")
    return out


def flat_params(cfg: TrainConfig) -> dict[str, str]:
    """The config as `{"lora.r": "16", ...}`: what both trackers show as the run's parameters."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = str(value)

    walk("", cfg.model_dump(mode="json", exclude={"bedrock", "openai"}))
    return out


def start(cfg: TrainConfig, data_dir: Path, job_id: str | None) -> list[Tracker]:
    """Open a run in each wanted tracker (their packages are imported only here)."""
    name = job_id or data_dir.name
    trackers: list[Tracker] = []
    for kind in wanted(cfg):
        try:
            if kind == "mlflow":
                project = os.environ.get("MLFLOW_EXPERIMENT_NAME") or cfg.tracking_project
                trackers.append(_MLflow(project or data_dir.name, name, flat_params(cfg)))
            else:
                project = os.environ.get("WANDB_PROJECT") or cfg.tracking_project
                trackers.append(_WandB(project or data_dir.name, name, flat_params(cfg)))
        except MissingDependencyError:
            raise
        except (
            Exception
        ) as exc:  # a misconfigured tracker: say so before any training time is spent
            for t in trackers:
                t.finish(None, "failed")
            where = "MLFLOW_TRACKING_URI" if kind == "mlflow" else "WANDB_PROJECT / WANDB_MODE"
            raise ConfigError(
                f"{kind} tracking could not start a run ({type(exc).__name__}: {exc}); check "
                f"{where}, or set train.tracking: none"
            ) from exc
    return trackers


def _metrics(point: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(point[k]) for k in METRICS if isinstance(point.get(k), (int, float))}


class _MLflow:
    name = "mlflow"

    def __init__(self, experiment: str, run_name: str, params: dict[str, str]) -> None:
        mlflow = require("mlflow", "tracking", "MLflow tracking")
        self.client = mlflow.MlflowClient()
        found = self.client.get_experiment_by_name(experiment)
        exp_id = found.experiment_id if found else self.client.create_experiment(experiment)
        previous = self.client.search_runs(
            [exp_id], filter_string=f"tags.`tunewise.job_id` = '{run_name}'", max_results=1
        )
        if previous:  # a resumed job continues its run
            self.run_id = previous[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            tags = {"tunewise.job_id": run_name, "mlflow.runName": run_name}
            self.run_id = self.client.create_run(exp_id, run_name=run_name, tags=tags).info.run_id
            self.client.log_batch(self.run_id, params=_params(mlflow, params))

    def log(self, point: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        ts, step = _now_ms(), int(point["step"])
        metrics = [Metric(k, v, ts, step) for k, v in _metrics(point).items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, out: Path | None, status: str) -> None:
        if out is not None and os.environ.get("HF_MLFLOW_LOG_ARTIFACTS", "").lower() not in _FALSE:
            self.client.log_artifacts(self.run_id, str(out), artifact_path="adapter")
        mlflow_status = {"succeeded": "FINISHED", "cancelled": "KILLED"}.get(status, "FAILED")
        self.client.set_terminated(self.run_id, status=mlflow_status)


def _params(mlflow: Any, params: dict[str, str]) -> list[Any]:
    from mlflow.entities import Param

    return [Param(k, v[:6000]) for k, v in params.items()]  # MLflow's value limit


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


class _WandB:
    name = "wandb"

    def __init__(self, project: str, run_name: str, params: dict[str, str]) -> None:
        wandb = require("wandb", "tracking", "Weights & Biases tracking")
        # The job id is the run id, so a resumed job continues the same W&B run.
        self.run = wandb.init(
            project=project, name=run_name, id=_wandb_id(run_name), resume="allow",
            config=params, reinit="create_new",
        )  # fmt: skip
        self.wandb = wandb

    def log(self, point: Mapping[str, Any]) -> None:
        self.run.log(_metrics(point), step=int(point["step"]))

    def finish(self, out: Path | None, status: str) -> None:
        if out is not None and os.environ.get("WANDB_LOG_MODEL", "").lower() not in _FALSE:
            art = self.wandb.Artifact(f"adapter-{_wandb_id(self.run.name)}", type="model")
            art.add_dir(str(out))
            self.run.log_artifact(art)
        self.run.finish(exit_code=0 if status == "succeeded" else 1)


def _wandb_id(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:64]
