"""The search: Optuna's TPE sampler over the space in `tune.space`, the median pruner on validation
loss, a wall-clock budget, and the best trial that the gate's forgetting rule would let through.

Trial 0 is the config as written (epochs `auto` resolved), so the search never reports a result
worse than not searching. The pruner compares each trial's validation loss after its n-th
evaluation with the median of earlier trials' after theirs; Optuna maximizes here (the primary
metric), so the pruner is fed the negated loss. A trial is not started (and the search ends) when
the budget left is below its expected length (finished trials' seconds per epoch, scaled by its
epochs and rehearsal share): a 10-epoch trial after a 3-epoch one must not start on the 3-epoch
one's time and then be stopped half-trained. A trial still running when the budget ends is stopped
at its next evaluation.
"""

from __future__ import annotations

import math
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_json
from tunewise.config import ProjectConfig
from tunewise.tune.trial import TrialResult, TrialRunner, overrides, train_config, validation_golden


def first_params(
    cfg: ProjectConfig, n_train: int
) -> tuple[dict[str, Any], dict[str, list[str]], list[int]]:
    """Trial 0's parameters (the config as written), and the choices extended to include them."""
    from tunewise.train.epochs import planned_epochs

    space, train = cfg.tune.space, cfg.train
    targets = dict(space.lora_targets)
    name = next(
        (k for k, v in targets.items() if sorted(v) == sorted(train.lora.target_modules)), None
    )
    if name is None:
        name = "configured"
        targets[name] = list(train.lora.target_modules)
    ranks = sorted({*space.lora_r, train.lora.r})
    epochs = planned_epochs(train, n_train)
    share = train.rehearsal.share if train.rehearsal.enabled else 0.0
    params = {"learning_rate": train.learning_rate, "epochs": epochs, "lora_r": train.lora.r,
              "lora_targets": name, "rehearsal_share": share}  # fmt: skip
    return params, targets, ranks


def best_of(results: list[TrialResult]) -> TrialResult | None:
    """Highest validation score among trials the forgetting rule lets through (ties: lower
    validation loss); when none does, the highest among finished trials."""
    done = [r for r in results if r.state == "complete" and r.score is not None]
    pool = [r for r in done if r.feasible] or done
    if not pool:
        return None
    return max(
        pool, key=lambda r: (r.score, -(r.valid_loss if r.valid_loss is not None else math.inf))
    )


def expected_seconds(results: list[TrialResult], params: dict[str, Any]) -> float:
    """How long a trial with `params` should take: the median finished trial's seconds per unit
    of work, times this trial's work (epochs x rows per epoch, which rehearsal grows by
    1 / (1 - share)); 0 before any trial finished."""

    def work(p: dict[str, Any]) -> float:
        return float(p["epochs"]) / (1.0 - float(p.get("rehearsal_share") or 0.0))

    rates = [r.seconds / work(r.params) for r in results if r.state == "complete"]
    return statistics.median(rates) * work(params) if rates else 0.0


def run_search(
    cfg: ProjectConfig,
    dataset: Path,
    out: Path,
    *,
    progress: bool = False,
    on_trial: Callable[[TrialResult], None] | None = None,
) -> dict[str, Any]:
    """Search, write trials.json / trials.png / trials.html into `out`; returns the outcome."""
    import optuna

    from tunewise.train.data import read_rows
    from tunewise.tune.report import write_report

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    deadline = started + cfg.tune.budget_s()
    first, targets, ranks = first_params(cfg, len(read_rows(dataset / "train.jsonl")))
    runner = TrialRunner(cfg, dataset, out, validation_golden(dataset, out), progress)
    results: list[TrialResult] = []
    study = _study(cfg, first)
    space = cfg.tune.space

    def objective(trial: Any) -> float:
        params = {
            "learning_rate": trial.suggest_float("learning_rate", *space.learning_rate, log=True),
            "epochs": trial.suggest_int("epochs", *space.epochs),
            "lora_r": trial.suggest_categorical("lora_r", ranks),
            "lora_targets": trial.suggest_categorical("lora_targets", list(targets)),
            "rehearsal_share": trial.suggest_float(
                "rehearsal_share", *space.rehearsal_share, step=0.05
            ),
        }

        left, needs = deadline - time.monotonic(), expected_seconds(results, params)
        # A trial the budget cannot cover would be stopped half-trained: do not start it.
        if results and needs >= left:
            if left > 0:  # say which trial did not fit; a spent budget needs no record
                results.append(TrialResult(trial.number, params, "skipped",
                               error=f"expected {needs:.0f} s, {left:.0f} s of the budget left"))  # fmt: skip
            study.stop()
            raise optuna.TrialPruned()

        def on_eval(n: int, loss: float) -> str | None:
            if time.monotonic() > deadline:
                return "stopped"
            trial.report(-loss, n)
            return "pruned" if trial.should_prune() else None

        res = runner.run(trial.number, params, train_config(cfg.train, params, targets), on_eval)
        results.append(res)
        if on_trial:
            on_trial(res)
        if res.state in ("pruned", "stopped"):
            raise optuna.TrialPruned()
        if res.state != "complete" or res.score is None:
            return math.nan  # Optuna records the trial as failed and carries on
        trial.set_constraint(
            "forgetting", res.constraint or 0.0
        )  # > 0: TPE treats it as infeasible
        return float(res.score)

    study.optimize(objective, n_trials=cfg.tune.trials, gc_after_trial=True)
    best = best_of(results)
    outcome = _outcome(cfg, results, best, targets, time.monotonic() - started)
    _keep_only(best, results)
    write_report(out, outcome, results, cfg)
    atomic_write_json(out / "trials.json", {**outcome, "trials": [r.to_json() for r in results]})
    return outcome


def _study(cfg: ProjectConfig, first: dict[str, Any]) -> Any:
    import optuna

    sampler = optuna.samplers.TPESampler(
        seed=cfg.tune.seed, n_startup_trials=cfg.tune.startup_trials
    )
    pruner = optuna.pruners.MedianPruner(n_startup_trials=cfg.tune.prune_after)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    study.enqueue_trial(first)
    return study


def _outcome(
    cfg: ProjectConfig,
    results: list[TrialResult],
    best: TrialResult | None,
    targets: dict[str, list[str]],
    seconds: float,
) -> dict[str, Any]:
    counts = {
        s: sum(r.state == s for r in results)
        for s in ("complete", "pruned", "stopped", "skipped", "failed")
    }
    out: dict[str, Any] = {
        "metric": cfg.eval.primary_metric,
        "budget_s": cfg.tune.budget_s(),
        "seconds": round(seconds, 1),
        "counts": counts,
        "best": best.to_json() if best else None,
        "first": results[0].to_json() if results else None,
        "overrides": None,
    }
    if best is not None:
        out["overrides"] = overrides(train_config(cfg.train, best.params, targets))
    return out


def _keep_only(best: TrialResult | None, results: list[TrialResult]) -> None:
    """Remove the adapters of trials that lost (a search of 20 trials would keep 20 adapters)."""
    for r in results:
        if r is not best and r.adapter:
            shutil.rmtree(Path(r.adapter), ignore_errors=True)
            r.adapter = None
