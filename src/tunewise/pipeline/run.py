"""`tunewise run`: data prepare -> decide -> cost -> baseline eval -> cheapest -> train -> compare & gate
-> register.

Each stage writes under runs/<run-id>/<stage>/ and is keyed by a hash of its inputs and config
(see stages.py): a re-run skips unchanged stages, a change re-runs only what depends on it, and a
failed stage names itself and the fix. With `resume`, an interrupted train stage continues its job
from the last checkpoint (same job id) instead of starting over. What each stage does is in
steps.py; `summary.json` and `summary.html` tie the stages together.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tunewise import __version__
from tunewise.artifacts import sha256_file
from tunewise.config import ProjectConfig, load_config
from tunewise.errors import ConfigError, TunewiseError
from tunewise.pipeline import cheap, steps
from tunewise.pipeline.stages import Stage, StageRecord, run_stages


@dataclass
class RunOptions:
    run_id: str | None = None
    """Folder name under runs_dir (default: the config's project name)."""
    resume: bool = False
    """Continue an unfinished training job from its last checkpoint instead of starting it over."""
    train_anyway: bool = False
    """Train even when a prompt-only variant already reaches the target."""
    inputs: list[Path] | None = None
    """Training files that replace data.inputs (e.g. another copy of the data)."""
    progress: bool = True
    on_event: Callable[[StageRecord], None] | None = None
    on_trial: Callable[[Any], None] | None = None
    """Called with each finished trial when the run searches (`run.tune`)."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """`{dotted.path: value}` applied on top of the config file (validated with it)."""


@dataclass
class RunSummary:
    run_dir: Path
    records: list[StageRecord]
    verdict: str
    details: dict[str, Any] = field(default_factory=dict)


def _file_hashes(paths: list[Path]) -> dict[str, str]:
    out = {}
    for i, p in enumerate(paths):
        if not p.is_file():
            raise ConfigError(
                f"{p}: input file not found (data.inputs / data.split.golden_file are relative to the config file)"
            )
        out[f"{i}:{p.name}"] = sha256_file(p)
    return out


def build_stages(cfg: ProjectConfig, opts: RunOptions) -> list[Stage]:
    """The pipeline's stages, each bound to the run's context, with what its cache key depends on."""
    ctx = _context(cfg, opts)
    base_identity = _base_identity(cfg.train.base)
    data_key = {
        "data": cfg.data.model_dump(mode="json"),
        "files": _file_hashes(ctx.inputs + ([ctx.golden_file] if ctx.golden_file else [])),
        "version": __version__,
    }
    eval_key = {
        "eval": cfg.eval.model_dump(mode="json"),
        # An external golden set edited in place must invalidate the evals that used it.
        "golden": _file_hashes([cfg.resolve(cfg.eval.golden)]) if cfg.eval.golden else None,
        "base": base_identity,
        "few_shot": cfg.run.few_shot,
        "classifier": cfg.run.classifier,
        "embedder": _embedder_identity(),
    }
    train_key = {**cfg.train.model_dump(mode="json"), "base_identity": base_identity}
    cheap_key = {
        "target": cfg.run.target_score,
        "register": cfg.run.register_model,
        "gate": cfg.gate.model_dump(mode="json"),
        "feature": cfg.project,
    }
    train_deps: tuple[str, ...] = ("data", "tune") if cfg.run.tune else ("data",)
    stages = [
        Stage("data", partial(steps.data, ctx), (), data_key, fix_hint=_DATA_FIX),
        Stage("decide", partial(steps.decide, ctx), ("data",), cfg.decide.model_dump(mode="json")),
        Stage("cost", partial(steps.cost, ctx), ("data",)),
        Stage("baseline", partial(steps.baseline, ctx), ("data",), eval_key, fix_hint=_EVAL_FIX),
        Stage("cheapest", partial(steps.cheapest, ctx), ("baseline",), cheap_key),
        *([tune_stage(ctx, base_identity)] if cfg.run.tune else []),
        Stage(
            "train",
            partial(steps.train, ctx),
            train_deps,
            train_key,
            fix_hint=_TRAIN_FIX,
            resumable=True,
        ),
        Stage(
            "compare",
            partial(steps.compare, ctx),
            ("baseline", "train"),
            {"gate": cfg.gate.model_dump(mode="json"), **eval_key},
        ),
    ]
    if cfg.run.register_model:
        stages.append(
            Stage(
                "register",
                partial(steps.register, ctx),
                ("compare", "train", "data", "baseline", "cheapest"),
                {"feature": cfg.project},
                fix_hint="check registry.url / TUNEWISE_DB_URL",
            )
        )
    return stages


def tune_stage(ctx: steps.StageContext, base_identity: str) -> Stage:
    """The search stage (also what `tunewise tune` runs after the data stage)."""
    from tunewise.pipeline import tune_step

    return Stage(
        "tune",
        partial(tune_step.tune, ctx),
        ("data",),
        tune_step.key_material(ctx, base_identity),
        fix_hint="see the trials in the stage folder's trials.html; narrow tune.space or raise tune.budget",
    )


def search_stages(cfg: ProjectConfig, opts: RunOptions) -> list[Stage]:
    """data and tune, keyed exactly as in `build_stages` (so a later run reuses the search)."""
    data = build_stages(cfg, opts)[0]
    return [data, tune_stage(_context(cfg, opts), _base_identity(cfg.train.base))]


_DATA_FIX = "run `tunewise data check` on the inputs and fix the rows it names"
_EVAL_FIX = "check the eval: section and the golden set"
_TRAIN_FIX = (
    "see `tunewise jobs events` for the job; lower train.batch_size or train.max_length if "
    "memory ran out"
)


def _context(cfg: ProjectConfig, opts: RunOptions) -> steps.StageContext:
    """The inputs the stages read, resolved against the config file and checked to exist."""
    if opts.inputs:
        inputs = [Path(p).resolve() for p in opts.inputs]
    else:
        inputs = [cfg.resolve(p) for p in cfg.data.inputs]
    if not inputs:
        raise ConfigError(
            "data.inputs: required; list the training files (JSONL or CSV) relative to the config"
        )
    if cfg.train.backend != "local":  # the compare stage loads the trained adapter locally
        raise ConfigError(
            f"train.backend: tunewise run trains locally, not on '{cfg.train.backend}'; use "
            f"tunewise train --backend {cfg.train.backend} for a hosted job, or set train.backend: local"
        )
    golden_file = cfg.resolve(cfg.data.split.golden_file) if cfg.data.split.golden_file else None
    return steps.StageContext(
        cfg, inputs, golden_file, progress=opts.progress, on_trial=opts.on_trial
    )


def _base_identity(base: str) -> str:
    """The base model's content hash when it is local (bundled or a folder), else its name.

    Keys the eval and train stages, so a local base folder changed in place re-runs them. Hub ids
    are not resolved here (that could download); the stage itself reports a missing model.
    """
    from tunewise.errors import TunewiseError
    from tunewise.models import is_local, model_hash, resolve_base

    if not is_local(base):
        return base
    try:
        return f"{base}@sha256:{model_hash(resolve_base(base))}"
    except TunewiseError:
        return base


def run(config_path: str | Path, opts: RunOptions | None = None) -> RunSummary:
    """Run the pipeline for one tunewise.yaml; returns every stage's record and the verdict."""
    opts = opts or RunOptions()
    cfg = load_config(config_path, opts.overrides)
    run_dir = Path(cfg.run.runs_dir) / (opts.run_id or cfg.project)
    if opts.resume and not run_dir.is_dir():
        raise TunewiseError(f"--resume: no run at {run_dir}; start one without --resume")
    run_dir.mkdir(parents=True, exist_ok=True)
    stages = build_stages(cfg, opts)
    started = time.perf_counter()
    with _exclusive(run_dir):
        records = run_stages(
            run_dir,
            stages,
            resume=opts.resume,
            on_event=opts.on_event,
            stop_after=partial(_enough_without_training, cfg, opts),
        )
    from tunewise.pipeline.summary import next_steps, verdict_of, write_summary

    verdict, details = verdict_of(records)
    details["seconds"] = round(time.perf_counter() - started, 1)
    details["next"] = next_steps(cfg, records, config_path)
    write_summary(run_dir, cfg, records, verdict, details)
    return RunSummary(run_dir, records, verdict, details)


def _enough_without_training(cfg: ProjectConfig, opts: RunOptions, rec: StageRecord) -> str | None:
    """Why to stop before training: a cheaper variant (a prompt, the classifier) reaches the target."""
    if rec.name != "cheapest" or opts.train_anyway or not rec.outputs["reached"]:
        return None
    return cheap.stop_message(cfg, rec.outputs)


def _embedder_identity() -> str | None:
    """The MiniLM's content hash (the classifier's and few-shot retrieval's embeddings), if installed."""
    from tunewise import embeddings

    return embeddings.embedder_identity()["sha256"] if embeddings.available() else None


@contextmanager
def _exclusive(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir/.lock` for the run: two runs in one folder would delete each other's work.

    An OS lock (flock), so a killed run leaves nothing to clean up. Not on Windows (no fcntl).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(run_dir / ".lock", "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise TunewiseError(
                f"{run_dir} is in use by another tunewise run (pid {holder}); wait for it to "
                "finish, or pass --run-id for a separate run"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
