"""One trial of the search: a training job in the job store, then its score on the validation split
and its forgetting on the general-capability suite.

The score is the primary metric of the adapter's answers to the validation rows (the golden set
stays untouched for the gate). Forgetting is judged like the gate's rule: the paired CI of the
general suite's change, with `c = min(-ci_high, -delta - max_forgetting_drop)`; c > 0 means the
gate would block the trial for forgetting, which the sampler treats as infeasible.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_jsonl
from tunewise.config import ProjectConfig
from tunewise.train.config import TrainConfig


@dataclass
class TrialResult:
    """What one trial did and scored."""

    number: int
    params: dict[str, Any]
    state: str = "running"
    """complete | pruned (median rule) | stopped (budget) | skipped (not started: the budget left
    was below its expected length) | failed."""
    job_id: str | None = None
    adapter: str | None = None
    score: float | None = None
    """Primary metric on the validation split."""
    valid_loss: float | None = None
    forgetting: dict[str, Any] | None = None
    """General suite: base, candidate, delta, ci (None when the suite is off)."""
    constraint: float | None = None
    """> 0: the gate's forgetting rule would block this trial."""
    seconds: float = 0.0
    epochs_run: int | None = None
    error: str | None = None
    losses: list[float] = field(default_factory=list)
    """Validation loss after each evaluation (what the pruner saw)."""

    @property
    def feasible(self) -> bool:
        return self.state == "complete" and (self.constraint is None or self.constraint <= 0)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "feasible": self.feasible}


def train_config(
    train: TrainConfig, params: dict[str, Any], targets: dict[str, list[str]]
) -> TrainConfig:
    """`train` with a trial's parameters (alpha follows the rank as 2 x r)."""
    share = float(params["rehearsal_share"])
    update = {
        "learning_rate": float(params["learning_rate"]),
        "epochs": int(params["epochs"]),
        "lora": train.lora.model_copy(
            update={"r": int(params["lora_r"]), "alpha": 2 * int(params["lora_r"]),
                    "target_modules": list(targets[params["lora_targets"]])}
        ),
        "rehearsal": train.rehearsal.model_copy(update={"enabled": share > 0, "share": share}),
    }  # fmt: skip
    return train.model_copy(update=update)


def overrides(train: TrainConfig) -> dict[str, Any]:
    """The dotted config paths a trial sets (what `tunewise tune` writes back to tunewise.yaml)."""
    return {
        "train.learning_rate": train.learning_rate,
        "train.epochs": train.epochs,
        "train.lora.r": train.lora.r,
        "train.lora.alpha": train.lora.alpha,
        "train.lora.target_modules": list(train.lora.target_modules),
        "train.rehearsal.enabled": train.rehearsal.enabled,
        "train.rehearsal.share": train.rehearsal.share,
    }


def validation_golden(dataset: Path, out: Path) -> Path:
    """The validation rows as a golden file (prompt, expected answer), for scoring trials."""
    from tunewise.data.schema import Row, Source
    from tunewise.data.split import to_golden
    from tunewise.errors import DataError
    from tunewise.train.data import read_rows

    path = dataset / "validation.jsonl"
    rows = read_rows(path) if path.is_file() else []
    if not rows:
        raise DataError(
            f"{path}: no validation rows; the search scores trials on them (set data.split.validation > 0)"
        )
    cases = [
        to_golden(Row(messages=r["messages"], source=Source("validation.jsonl", n),
                      tags=r.get("tags") or [], id=r.get("id") or ""))
        for n, r in enumerate(rows, 1)
    ]  # fmt: skip
    return atomic_write_jsonl(out / "validation-golden.jsonl", cases)


@dataclass
class TrialRunner:
    """Runs trials for one search: the config, the dataset, where trials write, the job store."""

    cfg: ProjectConfig
    dataset: Path
    out: Path
    golden: Path
    progress: bool = False

    def run(
        self,
        number: int,
        params: dict[str, Any],
        train: TrainConfig,
        on_eval: Callable[[int, float], str | None],
    ) -> TrialResult:
        """Train and score one trial. `on_eval(n, loss)` returns "pruned" or "stopped" to stop it."""
        from tunewise.train.backend import LocalBackend, TrainRequest
        from tunewise.train.jobs import JobStore

        result = TrialResult(number, params)
        started = time.perf_counter()
        store = JobStore(config_url=self.cfg.registry.url)
        backend = LocalBackend(store)
        folder = self.out / "trials" / f"{number:03d}"
        shutil.rmtree(folder, ignore_errors=True)
        job = backend.create(TrainRequest(self.dataset, train, folder / "adapter", self.progress))
        result.job_id = job.id

        def hook(n: int, loss: float) -> None:
            result.losses.append(loss)
            why = on_eval(n, loss)
            if why and result.state == "running":
                result.state = why
                store.event(job.id, f"{why} by tunewise tune after evaluation {n} "
                            f"(validation loss {loss:.4f})", level="warn")  # fmt: skip
                store.request_cancel(job.id)

        try:
            job = backend.run(job.id, progress=self.progress, on_eval=hook)
        except Exception as exc:  # one broken trial must not end the search
            result.state, result.error = "failed", f"{type(exc).__name__}: {exc}"
        shutil.rmtree(folder / "adapter" / "checkpoints", ignore_errors=True)
        if result.state == "running" and job.status == "succeeded":
            self._score(result, folder / "adapter")
            result.state = "complete"
        elif result.state == "running":
            result.state, result.error = "failed", f"job {job.id} ended {job.status}"
        result.seconds = round(time.perf_counter() - started, 1)
        return result

    def _score(self, result: TrialResult, adapter: Path) -> None:
        from tunewise.evaluate.api import evaluate_variant
        from tunewise.evaluate.variants import Variant

        manifest = json.loads((adapter / "manifest.json").read_text())
        result.adapter = str(adapter.resolve())
        result.valid_loss = manifest["metrics"].get("valid_loss")
        result.epochs_run = manifest["metrics"].get("epochs_completed")
        cand = Variant(
            model=self.cfg.train.base, adapter=str(adapter), name=f"trial {result.number}"
        )
        run = evaluate_variant(self.golden, cand, self.cfg.eval, progress=self.progress)
        result.score = run.means().get(self.cfg.eval.primary_metric, 0.0)
        result.forgetting = self._forgetting(cand)
        if result.forgetting is not None and self.cfg.gate.forgetting_action == "block":
            f = result.forgetting
            limit = self.cfg.gate.max_forgetting_drop
            result.constraint = min(-f["ci"]["high"], -f["delta"] - limit)

    def _forgetting(self, cand: Any) -> dict[str, Any] | None:
        from tunewise.evaluate.api import settings_from_config
        from tunewise.evaluate.compare import forgetting_summary
        from tunewise.evaluate.forgetting import forgetting_suite, run_suite
        from tunewise.evaluate.variants import Variant

        e = self.cfg.eval
        suite = forgetting_suite(e.forgetting_suite)
        if suite is None:
            return None
        base = Variant(model=self.cfg.train.base, name="base zero-shot")
        runs = run_suite(suite, (base, cand), settings_from_config(e), cache=e.cache,
                         max_new_tokens=e.forgetting_max_new_tokens, progress=self.progress)  # fmt: skip
        if runs is None:
            return None
        summary = forgetting_summary(*runs, samples=e.bootstrap_samples,
                                     confidence=self.cfg.gate.confidence, seed=e.seed)  # fmt: skip
        return {k: summary[k] for k in ("n", "base", "candidate", "delta", "ci")}
