"""The `tune` stage of `tunewise run` (with `run.tune: true`) and of `tunewise tune`, and how the train
stage adopts its result: the best trial already trained the adapter on this dataset with the best
settings, so the train stage takes that adapter (copied into its own folder) instead of training
it again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunewise.artifacts import read_json
from tunewise.errors import JobError

if TYPE_CHECKING:  # steps.train imports this module; the context type is all that is needed here
    from tunewise.pipeline.steps import StageContext

Upstream = dict[str, dict[str, Any]]


def key_material(ctx: StageContext, base_identity: str) -> dict[str, Any]:
    """What the search's outcome depends on besides the dataset."""
    cfg = ctx.cfg
    return {
        "tune": cfg.tune.model_dump(mode="json"),
        "train": cfg.train.model_dump(mode="json"),
        "base_identity": base_identity,
        "eval": cfg.eval.model_dump(mode="json", exclude={"golden"}),
        "gate": {k: getattr(cfg.gate, k) for k in ("confidence", "max_forgetting_drop",
                                                     "forgetting_action")},
    }  # fmt: skip


def tune(ctx: StageContext, folder: Path, up: Upstream) -> dict[str, Any]:
    """Search the training settings on the dataset's train and validation splits."""
    from tunewise.tune.search import run_search

    outcome = run_search(ctx.cfg, Path(up["data"]["dataset"]), folder, progress=ctx.progress,
                         on_trial=ctx.on_trial)  # fmt: skip
    best = outcome["best"]
    if best is None:
        raise JobError(f"no trial of the search finished; see {folder / 'trials.html'}")
    return {
        "report": str((folder / "trials.html").resolve()),
        "counts": outcome["counts"],
        "seconds": outcome["seconds"],
        "best": {k: best[k] for k in ("number", "score", "valid_loss", "forgetting", "feasible",
                                      "adapter", "job_id", "params")},
        "first_score": (outcome.get("first") or {}).get("score"),
        "overrides": outcome["overrides"],
    }  # fmt: skip


def adopt(folder: Path, up: Upstream) -> dict[str, Any]:
    """The train stage when the search ran: the best trial's adapter and job."""
    best = up["tune"]["best"]
    source, adapter = Path(best["adapter"]), folder / "adapter"
    if not (source / "manifest.json").is_file():
        raise JobError(
            f"{source}: the best trial's adapter is gone; run again (the search re-runs)"
        )
    shutil.rmtree(adapter, ignore_errors=True)
    shutil.copytree(source, adapter)
    manifest = read_json(adapter / "manifest.json")
    return {
        "adapter": str(adapter.resolve()),
        "job_id": best["job_id"],
        "status": "succeeded",
        "resumed_from_step": None,
        "from_trial": best["number"],
        "config": manifest.get("config"),
    }
