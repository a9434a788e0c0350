"""What each stage of `tunewise run` does: `stage(ctx, folder, upstream) -> outputs`.

`run.build_stages` binds each function to the run's `StageContext` and says what its cache key
depends on; `stages.run_stages` calls them in order. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunewise.artifacts import atomic_write_json, read_json, sha256_file
from tunewise.config import ProjectConfig
from tunewise.errors import ConfigError, JobError
from tunewise.pipeline import cheap

if TYPE_CHECKING:
    from tunewise.train.backend import LocalBackend
    from tunewise.train.jobs import Job

Upstream = dict[str, dict[str, Any]]
JOB_FILE = "job.json"
"""The train stage's job id, written as soon as the job exists so a killed run can continue it."""


@dataclass
class StageContext:
    """What every stage may read: the config, the resolved input files, display options."""

    cfg: ProjectConfig
    inputs: list[Path]
    golden_file: Path | None
    progress: bool = True
    on_trial: Callable[[Any], None] | None = None
    """Called with each finished trial of the search (`tune` stage)."""


def data(ctx: StageContext, folder: Path, up: Upstream) -> dict[str, Any]:
    """Prepare the dataset folder (validate, score, dedup, scrub, split, manifest)."""
    from tunewise.data.prepare import prepare

    res = prepare(ctx.inputs, ctx.cfg.data, folder / "dataset", golden_file=ctx.golden_file)
    counts = res.manifest.get("counts", {})
    return {
        "dataset": str(res.out_dir.resolve()),
        "manifest_sha256": sha256_file(res.out_dir / "manifest.json"),
        "counts": {
            **{k: counts.get(k) for k in ("read", "kept", "rejected", "train", "validation")},
            "golden": counts.get("golden") or counts.get("golden_from_file") or 0,
        },
    }


def decide(ctx: StageContext, folder: Path, up: Upstream) -> dict[str, Any]:
    """The decision matrix's recommendation, with the measured example count."""
    from tunewise.decide import decide as recommend

    signals = ctx.cfg.decide
    if signals.labelled_examples == 0:  # measured beats guessed
        kept = up["data"]["counts"].get("kept") or 0
        signals = signals.model_copy(update={"labelled_examples": kept})
    if signals.label_count == 0:
        labels = cheap.label_count(ctx.cfg, Path(up["data"]["dataset"]) / "train.jsonl")
        signals = signals.model_copy(update={"label_count": labels})
    decision = recommend(signals).to_json()
    atomic_write_json(folder / "decision.json", decision)
    return {"recommendation": decision["recommendation"], "warnings": decision["warnings"]}


def cost(ctx: StageContext, folder: Path, up: Upstream) -> dict[str, Any]:
    """The hosted-training cost estimate from the dataset manifest."""
    manifest = read_json(Path(up["data"]["dataset"]) / "manifest.json")
    estimate = manifest.get("cost") or {}
    atomic_write_json(folder / "cost.json", estimate)
    return {"cost": estimate}


def baseline(ctx: StageContext, folder: Path, up: Upstream) -> dict[str, Any]:
    """What the base model reaches by prompting alone (zero-shot, few-shot with the nearest training
    examples), and the embedding classifier when answers are labels, on the golden set."""
    from tunewise.evaluate.api import evaluate_variant
    from tunewise.evaluate.variants import PromptStrategy, Variant

    cfg = ctx.cfg
    golden = _golden(ctx, up)
    train_file = Path(up["data"]["dataset"]) / "train.jsonl"
    variants = {"zero-shot": Variant(model=cfg.train.base, name="base zero-shot")}
    if cfg.run.few_shot:
        variants["few-shot"] = Variant(
            model=cfg.train.base,
            name=f"base {cfg.run.few_shot}-shot",
            prompt=PromptStrategy(few_shot=cfg.run.few_shot, train=str(train_file)),
        )
    clf, why_not = None, "run.classifier is off"
    if cfg.run.classifier:
        clf, why_not = cheap.classifier_variant(
            cfg, folder / cheap.CLASSIFIER / "model", train_file
        )
    if clf is not None:
        variants[cheap.CLASSIFIER] = clf
    from tunewise.pipeline.answer_budget import cut_answers

    cut = cut_answers(golden, cfg.train.base, cfg.eval.max_new_tokens)
    scores = {}
    for name, variant in variants.items():
        run = evaluate_variant(golden, variant, cfg.eval, out=folder / name, progress=ctx.progress)
        scores[name] = run.means().get(cfg.eval.primary_metric, 0.0)
    return {
        "golden": str(golden),
        "primary_metric": cfg.eval.primary_metric,
        "scores": scores,
        "labels": {name: v.label() for name, v in variants.items()},
        "folders": {name: str((folder / name).resolve()) for name in variants},
        "not_tried": {cheap.CLASSIFIER: why_not} if why_not else {},
        "best": max(scores, key=lambda k: scores[k]),
        "target": cfg.run.target_score,
        "warnings": [cut] if cut else [],
    }


def cheapest(ctx: StageContext, folder: Path, up: Upstream) -> dict[str, Any]:
    """The best variant without training; when it reaches run.target_score and is the classifier,
    its comparison with the base zero-shot and its registration."""
    name, score, reached = cheap.cheapest(ctx.cfg, up["baseline"])
    out: dict[str, Any] = {
        "name": name,
        "label": up["baseline"]["labels"][name],
        "score": score,
        "target": ctx.cfg.run.target_score,
        "reached": reached,
        "registered": None,
    }
    if reached and name == cheap.CLASSIFIER and ctx.cfg.run.register_model:
        out["registered"] = cheap.register_classifier(ctx.cfg, up["baseline"], folder)
    return out


def train(ctx: StageContext, folder: Path, up: Upstream) -> dict[str, Any]:
    """Train the adapter, or continue the job an interrupted attempt left in this folder; after a
    search (`run.tune`), take the best trial's adapter."""
    from tunewise.train.backend import LocalBackend, TrainRequest
    from tunewise.train.jobs import JobStore

    if up.get("tune"):
        from tunewise.pipeline.tune_step import adopt

        return adopt(folder, up)

    # Local only: a hosted job returns at once, so it has no create/run split. The job lives in
    # the same database the register stage records the model in.
    backend = LocalBackend(JobStore(config_url=ctx.cfg.registry.url))
    adapter = folder / "adapter"
    job, resumed_from = _continue(backend, folder, adapter, ctx.progress)
    if job is None:
        shutil.rmtree(adapter, ignore_errors=True)  # a start that never reached a checkpoint
        request = TrainRequest(Path(up["data"]["dataset"]), ctx.cfg.train, adapter, ctx.progress)
        job = backend.create(request)
        atomic_write_json(folder / JOB_FILE, {"job_id": job.id})
        job = backend.run(job.id, progress=ctx.progress)
    if job.status != "succeeded":
        raise JobError(f"training job {job.id} is {job.status}; see tunewise jobs events {job.id}")
    return {
        "adapter": str(adapter.resolve()),
        "job_id": job.id,
        "status": job.status,
        "resumed_from_step": resumed_from,
    }


def _continue(
    backend: LocalBackend, folder: Path, adapter: Path, progress: bool
) -> tuple[Job | None, int | None]:
    """(job, step it resumed from) for the job recorded in `folder`, or (None, None) to start anew.

    A job finished meanwhile (`tunewise train --resume`) is taken as it is; one without a
    checkpoint on disk, or unknown to this job store, cannot be continued.
    """
    recorded = folder / JOB_FILE
    if not recorded.is_file():
        return None, None
    try:
        job = backend.status(read_json(recorded)["job_id"])
    except (JobError, KeyError, ValueError):
        return None, None
    if job.status == "succeeded":
        return (job, None) if (adapter / "manifest.json").is_file() else (None, None)
    saved = [c for c in backend.store.checkpoints(job.id) if Path(c.path).is_dir()]
    if not saved:
        return None, None
    return backend.resume(job.id, progress=progress), saved[-1].step


def compare(ctx: StageContext, folder: Path, up: Upstream) -> dict[str, Any]:
    """Base against fine-tuned on the golden set, with the gate's decision."""
    from tunewise.evaluate.variants import Variant

    base = Variant(model=ctx.cfg.train.base, name="base zero-shot")
    return gate_against(ctx, folder, Path(up["baseline"]["golden"]), base, up["train"]["adapter"],
                        alternatives=cheap.alternatives(up["baseline"]))  # fmt: skip


def gate_against(
    ctx: StageContext,
    folder: Path,
    golden: Path,
    reference: Any,
    adapter: str,
    *,
    alternatives: list[Any] | None = None,
    gate: Any = None,
) -> dict[str, Any]:
    """The adapter against `reference` (a Variant: the base, or the production model for a
    retrain) on `golden`, with the gate's decision (`gate`: a GateConfig, default the config's)."""
    from tunewise.evaluate.api import compare_variants
    from tunewise.evaluate.variants import Variant

    cfg = ctx.cfg
    cand = Variant(model=cfg.train.base, adapter=adapter, name="fine-tuned")
    report = compare_variants(
        golden,
        reference,
        cand,
        eval_cfg=cfg.eval,
        gate_cfg=gate or cfg.gate,
        out=folder,
        alternatives=alternatives,
        progress=ctx.progress,
    )
    gate_out = report.get("gate", {})
    rule: dict[str, Any] = next(
        (r for r in gate_out.get("rules", []) if r["rule"] == "beats_alternative"), {}
    )
    alts = report.get("alternatives") or {}
    return {
        "report": str((folder / "report.json").resolve()),
        "decision": gate_out.get("decision"),
        "blocked_by": gate_out.get("blocked_by", []),
        "primary": _primary(report, cfg.eval.primary_metric),
        "alternative": {**rule.get("values", {}), "status": rule.get("status"),
                        "score": alts["rows"][0]["alternative"] if alts else None},
    }  # fmt: skip


def register(ctx: StageContext, folder: Path, up: Upstream) -> dict[str, Any]:
    """Register the adapter with its report and lineage; say how to promote it."""
    from tunewise.infer import adapter_hash
    from tunewise.registry import Registry

    project, adapter = ctx.cfg.project, up["train"]["adapter"]
    reg = Registry(config_url=ctx.cfg.registry.url)
    # One registry name per trained artifact: the project plus the adapter's content hash.
    name = f"{project}-{adapter_hash(adapter)[:12]}"
    model = reg.register_run(adapter, report=up["compare"]["report"], feature=project, name=name)
    out = {
        "model": model.name,
        "feature": project,
        "adapter": adapter,
        "gate": up["compare"]["decision"],
        "registry": reg.engine.url.render_as_string(hide_password=True),
    }
    out["instead"] = _cheaper_instead(ctx, folder, up)
    atomic_write_json(folder / "registered.json", out)
    hint = (
        f"tunewise registry promote {model.name} --feature {project} --alias production"
        if up["compare"]["decision"] == "accept"
        else "the gate blocked it: promotion will be refused"
    )
    if out["instead"]:
        hint = f"ship the classifier instead: {out['instead']['next']}"
    return {**out, "next": hint}


def _cheaper_instead(ctx: StageContext, folder: Path, up: Upstream) -> dict[str, Any] | None:
    """The classifier, registered, when the fine-tune did not beat it by the gate's margin."""
    alt = up["compare"].get("alternative") or {}
    labels = up["baseline"].get("labels") or {}
    if alt.get("status") != "block" or alt.get("alternative") != labels.get(cheap.CLASSIFIER):
        return None
    already = up["cheapest"].get("registered")
    return already or cheap.register_classifier(ctx.cfg, up["baseline"], folder / "classifier")


def _golden(ctx: StageContext, up: Upstream) -> Path:
    if ctx.cfg.eval.golden:
        return ctx.cfg.resolve(ctx.cfg.eval.golden)
    path = Path(up["data"]["dataset"]) / "golden.jsonl"
    if not path.is_file():
        raise ConfigError(
            "no golden set: set data.split.golden > 0, data.split.golden_file or eval.golden"
        )
    return path


def _primary(report: dict[str, Any], metric: str) -> dict[str, Any]:
    m = (report.get("metrics") or {}).get(metric) or {}
    return {
        "metric": metric,
        **{k: m.get(k) for k in ("base", "candidate", "delta", "ci", "mcnemar")},
    }
