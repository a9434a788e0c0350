"""`tunewise run`: data prepare -> decide -> cost -> baseline eval -> train -> compare & gate -> register.

Each stage writes under runs/<run-id>/<stage>/ and is keyed by a hash of its inputs and config
(see stages.py): a re-run skips unchanged stages, a change re-runs only what depends on it, and a
failed stage names itself and the fix. `summary.json` and `summary.html` tie the stages together.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise import __version__
from tunewise.artifacts import read_json, sha256_file
from tunewise.config import ProjectConfig, load_config
from tunewise.errors import ConfigError
from tunewise.pipeline.stages import Stage, StageRecord, run_stages


@dataclass
class RunOptions:
    run_id: str | None = None
    """Folder name under runs_dir (default: the config's project name)."""
    train_anyway: bool = False
    """Train even when a prompt-only variant already reaches the target."""
    inputs: list[Path] | None = None
    """Training files that replace data.inputs (e.g. another copy of the data)."""
    progress: bool = True
    on_event: Callable[[StageRecord], None] | None = None


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
    """The pipeline's stages, each with what its cache key depends on."""
    inputs = (
        [Path(p).resolve() for p in opts.inputs]
        if opts.inputs
        else [cfg.resolve(p) for p in cfg.data.inputs]
    )
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
    hashes = _file_hashes(inputs + ([golden_file] if golden_file else []))

    def data_stage(folder: Path, up: dict[str, Any]) -> dict[str, Any]:
        from tunewise.data.prepare import prepare

        res = prepare(inputs, cfg.data, folder / "dataset", golden_file=golden_file)
        counts = res.manifest.get("counts", {})
        return {
            "dataset": str(res.out_dir.resolve()),
            "manifest_sha256": sha256_file(res.out_dir / "manifest.json"),
            "counts": {
                **{k: counts.get(k) for k in ("read", "kept", "rejected", "train", "validation")},
                "golden": counts.get("golden") or counts.get("golden_from_file") or 0,
            },
        }

    def decide_stage(folder: Path, up: dict[str, Any]) -> dict[str, Any]:
        from tunewise.artifacts import atomic_write_json
        from tunewise.decide import decide

        signals = cfg.decide
        if signals.labelled_examples == 0:  # measured beats guessed
            signals = signals.model_copy(
                update={"labelled_examples": up["data"]["counts"].get("kept") or 0}
            )
        decision = decide(signals).to_json()
        atomic_write_json(folder / "decision.json", decision)
        return {"recommendation": decision["recommendation"], "warnings": decision["warnings"]}

    def cost_stage(folder: Path, up: dict[str, Any]) -> dict[str, Any]:
        from tunewise.artifacts import atomic_write_json

        manifest = read_json(Path(up["data"]["dataset"]) / "manifest.json")
        cost = manifest.get("cost") or {}
        atomic_write_json(folder / "cost.json", cost)
        return {"cost": cost}

    def golden_of(up: dict[str, Any]) -> Path:
        if cfg.eval.golden:
            return cfg.resolve(cfg.eval.golden)
        path = Path(up["data"]["dataset"]) / "golden.jsonl"
        if not path.is_file():
            raise ConfigError(
                "no golden set: set data.split.golden > 0, data.split.golden_file or eval.golden"
            )
        return path

    def baseline_stage(folder: Path, up: dict[str, Any]) -> dict[str, Any]:
        from tunewise.evaluate.api import evaluate_variant
        from tunewise.evaluate.variants import PromptStrategy, Variant

        golden = golden_of(up)
        train_file = str(Path(up["data"]["dataset"]) / "train.jsonl")
        variants = {"zero-shot": Variant(model=cfg.train.base, name="base zero-shot")}
        if cfg.run.few_shot:
            variants["few-shot"] = Variant(
                model=cfg.train.base,
                name=f"base {cfg.run.few_shot}-shot",
                prompt=PromptStrategy(few_shot=cfg.run.few_shot, train=train_file),
            )
        scores = {}
        for name, variant in variants.items():
            run = evaluate_variant(
                golden, variant, cfg.eval, out=folder / name, progress=opts.progress
            )
            scores[name] = run.means().get(cfg.eval.primary_metric, 0.0)
        best = max(scores, key=lambda k: scores[k])
        return {
            "golden": str(golden),
            "primary_metric": cfg.eval.primary_metric,
            "scores": scores,
            "best": best,
            "target": cfg.run.target_score,
        }

    def train_stage(folder: Path, up: dict[str, Any]) -> dict[str, Any]:
        from tunewise.train.backend import TrainRequest, get_backend
        from tunewise.train.jobs import JobStore

        # The job lives in the same database the register stage records the model in.
        backend = get_backend("local", store=JobStore(config_url=cfg.registry.url))
        job = backend.submit(
            TrainRequest(
                Path(up["data"]["dataset"]), cfg.train, folder / "adapter", progress=opts.progress
            )
        )
        return {
            "adapter": str((folder / "adapter").resolve()),
            "job_id": job.id,
            "status": job.status,
        }

    def compare_stage(folder: Path, up: dict[str, Any]) -> dict[str, Any]:
        from tunewise.evaluate.api import compare_variants
        from tunewise.evaluate.variants import Variant

        golden = Path(up["baseline"]["golden"])
        base = Variant(model=cfg.train.base, name="base zero-shot")
        cand = Variant(model=cfg.train.base, adapter=up["train"]["adapter"], name="fine-tuned")
        report = compare_variants(
            golden,
            base,
            cand,
            eval_cfg=cfg.eval,
            gate_cfg=cfg.gate,
            out=folder,
            progress=opts.progress,
        )
        gate = report.get("gate", {})
        return {
            "report": str((folder / "report.json").resolve()),
            "decision": gate.get("decision"),
            "blocked_by": gate.get("blocked_by", []),
            "primary": _primary(report, cfg.eval.primary_metric),
        }

    def register_stage(folder: Path, up: dict[str, Any]) -> dict[str, Any]:
        from tunewise.artifacts import atomic_write_json
        from tunewise.registry import Registry

        reg = Registry(config_url=cfg.registry.url)
        from tunewise.infer import adapter_hash

        # One registry name per trained artifact: the project plus the adapter's content hash.
        name = f"{cfg.project}-{adapter_hash(up['train']['adapter'])[:12]}"
        model = reg.register_run(
            up["train"]["adapter"], report=up["compare"]["report"], feature=cfg.project, name=name
        )
        out = {
            "model": model.name,
            "feature": cfg.project,
            "adapter": up["train"]["adapter"],
            "gate": up["compare"]["decision"],
            "registry": reg.engine.url.render_as_string(hide_password=True),
        }
        atomic_write_json(folder / "registered.json", out)
        hint = (
            f"tunewise registry promote {model.name} --feature {cfg.project} --alias production"
            if up["compare"]["decision"] == "accept"
            else "the gate blocked it: promotion will be refused"
        )
        return {**out, "next": hint}

    data_key = {"data": cfg.data.model_dump(mode="json"), "files": hashes, "version": __version__}
    eval_key = {
        "eval": cfg.eval.model_dump(mode="json"),
        # An external golden set edited in place must invalidate the evals that used it.
        "golden": _file_hashes([cfg.resolve(cfg.eval.golden)]) if cfg.eval.golden else None,
        "base": _base_identity(cfg.train.base),
        "few_shot": cfg.run.few_shot,
    }
    stages = [
        Stage(
            "data",
            data_stage,
            key_material=data_key,
            fix_hint="run `tunewise data check` on the inputs and fix the rows it names",
        ),
        Stage("decide", decide_stage, ("data",), cfg.decide.model_dump(mode="json")),
        Stage("cost", cost_stage, ("data",)),
        Stage(
            "baseline",
            baseline_stage,
            ("data",),
            eval_key,
            fix_hint="check the eval: section and the golden set",
        ),
        Stage(
            "train",
            train_stage,
            ("data",),
            {**cfg.train.model_dump(mode="json"), "base_identity": eval_key["base"]},
            fix_hint="see `tunewise jobs events` for the job; lower train.batch_size or train.max_length if memory ran out",
        ),
        Stage(
            "compare",
            compare_stage,
            ("baseline", "train"),
            {"gate": cfg.gate.model_dump(mode="json"), **eval_key},
        ),
    ]
    if cfg.run.register_model:
        stages.append(
            Stage(
                "register",
                register_stage,
                ("compare", "train", "data"),
                {"feature": cfg.project},
                fix_hint="check registry.url / TUNEWISE_DB_URL",
            )
        )
    return stages


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


def _primary(report: dict[str, Any], metric: str) -> dict[str, Any]:
    m = (report.get("metrics") or {}).get(metric) or {}
    return {
        "metric": metric,
        "base": m.get("base"),
        "candidate": m.get("candidate"),
        "delta": m.get("delta"),
        "ci": m.get("ci"),
        "mcnemar": m.get("mcnemar"),
    }


def run(config_path: str | Path, opts: RunOptions | None = None) -> RunSummary:
    """Run the pipeline for one tunewise.yaml; returns every stage's record and the verdict."""
    opts = opts or RunOptions()
    cfg = load_config(config_path)
    run_dir = Path(cfg.run.runs_dir) / (opts.run_id or cfg.project)
    run_dir.mkdir(parents=True, exist_ok=True)
    stages = build_stages(cfg, opts)
    started = time.perf_counter()

    def stop_after(rec: StageRecord) -> str | None:
        if rec.name != "baseline" or opts.train_anyway:
            return None
        best = rec.outputs["best"]
        score = rec.outputs["scores"][best]
        if score >= cfg.run.target_score:
            return (
                f"prompt-only variant '{best}' already scores {score:.1%} on {cfg.eval.primary_metric} "
                f"(target {cfg.run.target_score:.0%}): fine-tuning is not needed (use --train-anyway to train)"
            )
        return None

    records = run_stages(run_dir, stages, on_event=opts.on_event, stop_after=stop_after)
    from tunewise.pipeline.summary import verdict_of, write_summary

    verdict, details = verdict_of(records)
    details["seconds"] = round(time.perf_counter() - started, 1)
    write_summary(run_dir, cfg, records, verdict, details)
    return RunSummary(run_dir, records, verdict, details)
