"""`tunewise retrain FEATURE`: the next generation of a feature's model, through the same gates.

    result = retrain("support-intent", cfg, Path("review.jsonl"))

1. the parent: the model holding `FEATURE@monitor.alias`, its dataset version and its adapter;
2. the next dataset version: the parent's rows plus the reviewed production rows (nextdata.py);
3. training with the parent's recorded config (its adapter manifest), by the pipeline's train step,
   starting from the parent's adapter at a fifth of the first generation's learning rate
   (monitor.retrain.warm_start, warm_start_lr_scale);
4. the gate against the parent (not the base) on the refreshed golden set: the parent's golden
   cases (tagged `source:golden`) plus the slice of reviewed rows held out from training (tagged
   `source:production`), so the primary metric is judged on the traffic that drifted too, and the
   golden part stays a gated bucket (it must not drop by more than gate.max_bucket_drop);
5. registration (dataset, model, gate), a `retrain.generation` registry event saying v1 -> v2 and
   why (the latest monitor trigger), and, when accepted, a canary rollout.
Each step writes under `runs/retrain/FEATURE-VERSION/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_json
from tunewise.config import ProjectConfig
from tunewise.errors import ConfigError, RegistryError, TunewiseError
from tunewise.monitor.config import RetrainConfig

EVENT_KIND = "retrain.generation"


@dataclass
class RetrainResult:
    folder: Path
    feature: str
    parent: str
    model: str
    generation: int
    data: dict[str, Any]
    gate: dict[str, Any]
    slice: dict[str, Any] | None
    rollout: dict[str, Any] | None
    event: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def _parent(feature: str, cfg: ProjectConfig) -> dict[str, Any]:
    """The serving model's lineage; RegistryError when it cannot be retrained here."""
    from tunewise.registry import Registry

    with Registry(config_url=cfg.registry.url) as reg:
        lin = reg.lineage(f"{feature}@{cfg.monitor.alias}", verify=False)
    m, ds = lin["model"], lin.get("dataset") or {}
    if not m.get("adapter_path"):
        raise RegistryError(f"'{m['model']}' is not a local adapter ({m['kind']}); tunewise retrain trains "
                            "locally: retrain a provider model with tunewise train --backend")  # fmt: skip
    if not ds.get("location") or not (Path(ds["location"]) / "train.jsonl").is_file():
        raise RegistryError(f"'{m['model']}' has no registered dataset folder with a train.jsonl; register "
                            "it (tunewise registry register-dataset FOLDER)")  # fmt: skip
    return lin


def recorded_train(adapter: str) -> Any:
    """The TrainConfig the parent was trained with (its adapter manifest records it)."""
    from pydantic import ValidationError

    from tunewise.train.config import TrainConfig
    from tunewise.train.manifest import read_manifest

    recorded = read_manifest(adapter).get("config")
    if not isinstance(recorded, dict):
        raise ConfigError(f"{adapter}/manifest.json: no recorded training config to retrain with")
    # The manifest adds what training resolved (epochs_resolved, ...): keep the settings only.
    settings = {k: v for k, v in recorded.items() if k in TrainConfig.model_fields}
    try:
        return TrainConfig.model_validate(settings)
    except ValidationError as exc:
        raise ConfigError(
            f"{adapter}/manifest.json: recorded config is no longer valid: {exc}"
        ) from None


def first_rate(train: Any) -> float:
    """The learning rate of a recorded TrainConfig's first generation: its own, or, when it was a
    warm start, its init adapter's first rate (as far back as those folders still exist)."""
    seen: set[str] = set()
    while train.init_adapter and train.init_adapter not in seen:
        seen.add(train.init_adapter)
        try:
            train = recorded_train(train.init_adapter)
        except (TunewiseError, OSError):
            break  # an earlier generation is gone (or not tunewise's): stop at the last known rate
    return float(train.learning_rate)


def next_train(adapter: str, retrain: RetrainConfig) -> Any:
    """The next generation's TrainConfig: the parent's recorded one, continuing from the parent's
    adapter at `warm_start_lr_scale` times the first generation's rate when warm-starting (not
    compounded over generations), or from fresh weights at the first generation's rate."""
    train = recorded_train(adapter)
    warm = retrain.warm_start and train.method in ("lora", "qlora")
    rate = first_rate(train) * (retrain.warm_start_lr_scale if warm else 1.0)
    return train.model_copy(
        update={"init_adapter": adapter if warm else None, "learning_rate": rate}
    )


def _why(reg: Any, feature: str) -> dict[str, Any] | None:
    """The latest monitor trigger of the feature: why this generation was made."""
    from tunewise.monitor.triggers import EVENT_KIND as TRIGGER

    latest = reg.events(feature=feature, kind=TRIGGER, limit=1)
    if not latest:
        return None
    e = latest[0]
    return {"event": e["id"], "at": e["recorded_at"], "report": e["detail"].get("report"),
            "fired": [f.get("trigger") for f in e["detail"].get("fired", [])]}  # fmt: skip


def generations(reg: Any, feature: str) -> list[dict[str, Any]]:
    """The feature's recorded generations, oldest first (parent -> model, why, gate)."""
    return [e for e in reversed(reg.events(feature=feature, kind=EVENT_KIND, limit=1000))]


def _generation(reg: Any, feature: str, parent: str) -> int:
    for e in generations(reg, feature):
        if e["model"] == parent:
            return int(e["detail"].get("generation", 1)) + 1
    return 2


def retrain(
    feature: str,
    cfg: ProjectConfig,
    reviewed: Path,
    *,
    out_dir: Path | None = None,
    rollout: bool | None = None,
    force_rollout_reason: str | None = None,
    progress: bool = False,
    by: str | None = None,
) -> RetrainResult:
    """Build, train, gate and register the next generation; start its canary when accepted."""
    from tunewise.evaluate.variants import Variant
    from tunewise.monitor.nextdata import next_version
    from tunewise.pipeline import steps
    from tunewise.registry import Registry

    lin = _parent(feature, cfg)
    parent, ds = lin["model"], lin["dataset"]
    train = next_train(parent["adapter_path"], cfg.monitor.retrain)
    run_cfg = cfg.model_copy(update={"train": train, "project": feature})
    folder = out_dir or Path(cfg.run.runs_dir) / "retrain" / f"{feature}-from-{parent['model']}"
    nxt = next_version(run_cfg, Path(ds["location"]), ds.get("semver"), reviewed, folder / "data")
    ctx = steps.StageContext(run_cfg, [], None, progress=progress)
    (folder / "train").mkdir(parents=True, exist_ok=True)
    trained = steps.train(ctx, folder / "train", {"data": {"dataset": str(nxt.folder)}})
    reference = Variant(
        model=run_cfg.train.base, adapter=parent["adapter_path"], name=parent["model"]
    )
    golden = _golden(run_cfg, Path(ds["location"]))
    gate_set = refreshed_golden(golden, nxt.slice_path, folder / "golden-refreshed.jsonl")
    gate_cfg = _gate(run_cfg)
    gated = steps.gate_against(
        ctx, folder / "compare", gate_set, reference, trained["adapter"], gate=gate_cfg
    )
    parts = _parts(folder / "compare", run_cfg) if nxt.slice_path is not None else None
    with Registry(config_url=cfg.registry.url) as reg:
        reg.register_dataset(nxt.folder, by=by)
        up = {"train": trained, "compare": gated, "baseline": {}, "cheapest": {}}
        registered = steps.register(ctx, folder / "register", up)
        generation = _generation(reg, feature, parent["model"])
        why = _why(reg, feature)
    started = None
    if gated["decision"] == "accept" and (
        cfg.monitor.retrain.rollout if rollout is None else rollout
    ):
        started = _start_rollout(cfg, registered["model"], feature, force_rollout_reason, by)
    data = {"from": ds.get("semver"), "to": nxt.semver, "folder": str(nxt.folder),
            "manifest_sha256": nxt.manifest_sha256, "reviewed": nxt.reviewed, "production": nxt.production}  # fmt: skip
    result = RetrainResult(folder, feature, parent["model"], registered["model"], generation, data,
                           gated, parts, started)  # fmt: skip
    with Registry(config_url=cfg.registry.url) as reg:
        result.event = reg.record_event(EVENT_KIND, feature=feature, model=result.model, by=by, detail={
            "generation": generation, "parent": parent["model"], "why": why, "dataset": data,
            "gate": {k: gated[k] for k in ("decision", "blocked_by", "primary", "report")},
            "slice": result.slice, "rollout": started})  # fmt: skip
    atomic_write_json(folder / "retrain.json", result.to_json())
    return result


def _golden(cfg: ProjectConfig, dataset: Path) -> Path:
    """The golden set the parent was gated on: eval.golden when configured, else its version's."""
    if cfg.eval.golden:
        return cfg.resolve(cfg.eval.golden)
    path = dataset / "golden.jsonl"
    if not path.is_file():
        raise ConfigError(f"{dataset}: no golden.jsonl to gate the retrain on; set eval.golden")
    return path


def _gate(cfg: ProjectConfig) -> Any:
    margin = cfg.monitor.retrain.non_inferiority_margin
    if cfg.gate.non_inferiority_margin is not None or margin is None:
        return cfg.gate
    return cfg.gate.model_copy(update={"non_inferiority_margin": margin})


GOLDEN_TAG, SLICE_TAG = "source:golden", "source:production"


def refreshed_golden(golden: Path, slice_path: Path | None, out: Path) -> Path:
    """The gate's case file: the golden cases tagged `source:golden`, then the refreshed slice's
    (tagged `source:production` by nextdata); `golden` itself when there is no slice."""
    import json

    from tunewise.artifacts import atomic_write_text

    if slice_path is None:
        return golden
    cases = [json.loads(x) for x in golden.read_text(encoding="utf-8").splitlines() if x.strip()]
    ids = set()
    for c in cases:
        c["tags"] = [*(c.get("tags") or []), GOLDEN_TAG]
        ids.add(str(c["id"]))
    for line in slice_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            c = json.loads(line)
            c["id"] = f"slice-{c['id']}" if str(c["id"]) in ids else c["id"]
            cases.append(c)
    atomic_write_text(out, "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases))
    return out


def _parts(compare: Path, cfg: ProjectConfig) -> dict[str, Any]:
    """The primary metric on each part of the refreshed golden set (paired bootstrap CI and
    McNemar, as in the report): `golden` (the parent's cases) and `slice` (held-out production)."""
    import json

    from tunewise.evaluate.stats import mcnemar_exact, paired_bootstrap

    def scores(side: str) -> dict[str, tuple[list[str], float]]:
        lines = (compare / f"{side}.results.jsonl").read_text(encoding="utf-8").splitlines()
        rows = [json.loads(x) for x in lines if x.strip()]
        return {r["id"]: (r["tags"], float(r["scores"][metric])) for r in rows}

    metric, ev = cfg.eval.primary_metric, cfg.eval
    base, cand = scores("base"), scores("candidate")
    report = json.loads((compare / "report.json").read_text(encoding="utf-8"))
    binary = bool(report["metrics"].get(metric, {}).get("binary"))  # McNemar only for right/wrong
    out: dict[str, Any] = {"report": str(compare / "report.json")}
    for part, tag in (("golden", GOLDEN_TAG), ("slice", SLICE_TAG)):
        ids = [i for i, (tags, _) in base.items() if tag in tags and i in cand]
        b, c = [base[i][1] for i in ids], [cand[i][1] for i in ids]
        ci = paired_bootstrap(
            b, c, samples=ev.bootstrap_samples, confidence=cfg.gate.confidence, seed=ev.seed
        )
        out[part] = {"metric": metric, "n": len(ids), "base": sum(b) / len(b) if b else None,
                     "candidate": sum(c) / len(c) if c else None, "delta": ci.mean_diff,
                     "ci": ci.to_json(), "mcnemar": mcnemar_exact(b, c).to_json() if binary else None}  # fmt: skip
    out["primary"] = out["slice"]  # the slice's figures, under the name earlier results used
    return out


def _start_rollout(
    cfg: ProjectConfig, model: str, feature: str, reason: str | None, by: str | None
) -> dict[str, Any]:
    """A canary rollout of the accepted model; a refusal (checklist, a running rollout) is
    reported, not raised: the model stays registered and gated."""
    from tunewise.registry.catalog import current_user
    from tunewise.serve.rollout.api import launch
    from tunewise.serve.rollout.context import rollout_context
    from tunewise.store import get_engine

    try:
        engine = get_engine(config_url=cfg.registry.url)
        why = f"retrain of {feature}: the gate accepted '{model}' against production"
        return {"started": True, **launch(engine, model, feature, rollout_context(cfg), force=reason is not None,
                                           reason=reason or why, by=current_user(by))}  # fmt: skip
    except TunewiseError as exc:
        return {"started": False, "error": str(exc)}
