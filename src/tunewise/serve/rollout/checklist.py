"""The pre-deploy checklist, as the registry and the project know it.

Each item is found (with its value and where it came from) or missing (with the command that
fills it). `tunewise rollout start` refuses while one is missing, unless forced with a reason
that is recorded with the rollout. Items that no artifact carries (an owner, a cost projection
made elsewhere, a retrain trigger run by cron) can be recorded with
`tunewise checklist FEATURE --record ITEM=VALUE`, a registry event like any other.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tunewise.errors import ConfigError, RegistryError, RolloutError
from tunewise.registry.tables import Alias, Dataset, GateDecision, Model, RegistryEvent
from tunewise.store import transaction

RECORD_KIND = "checklist.record"
ITEMS = {
    "decision_record": "decision record (why fine-tuning, the paths compared)",
    "dataset": "dataset semver and hash",
    "eval_report": "held-out eval report, every bucket green",
    "safety": "safety suite unchanged (no safety case worse)",
    "gateway_entry": "gateway entry (the feature routes to a control)",
    "flag_off": "a flag that starts off (canary share 0)",
    "cost": "cost projection",
    "rollback_target": "rollback target (the control, verified)",
    "retrain_trigger": "retrain trigger",
    "owner": "owner",
}


@dataclass(frozen=True)
class Item:
    name: str
    title: str
    found: bool
    value: str | None = None
    source: str | None = None
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def missing_items(items: list[Item]) -> list[Item]:
    return [i for i in items if not i.found]


def _found(name: str, value: str, source: str) -> Item:
    return Item(name, ITEMS[name], True, value, source)


def _missing(name: str, fix: str, value: str | None = None) -> Item:
    return Item(name, ITEMS[name], False, value, None, fix)


def _record_fix(feature: str, name: str, example: str) -> str:
    return f"`tunewise checklist {feature} --record {name}='{example}'`"


def recorded(s: Session, feature: str) -> dict[str, tuple[str, str]]:
    """item -> (value, source) from `tunewise checklist record` (the latest wins)."""
    out: dict[str, tuple[str, str]] = {}
    rows = s.scalars(
        select(RegistryEvent)
        .where(RegistryEvent.feature == feature, RegistryEvent.kind == RECORD_KIND)
        .order_by(RegistryEvent.id)
    )
    for e in rows:
        d = json.loads(e.detail_json)
        out[d["item"]] = (str(d["value"]), f"recorded by {e.recorded_by} (registry event #{e.id})")
    return out


def record_item(engine: Engine, feature: str, item: str, value: str, *, by: str) -> dict[str, Any]:
    """Record a checklist item's value for `feature` (a registry event)."""
    from tunewise.registry.catalog import current_user
    from tunewise.registry.lineage import event_record_dict

    if item not in ITEMS:
        raise ConfigError(f"unknown checklist item '{item}'; items: {', '.join(ITEMS)}")
    if not value.strip():
        raise ConfigError(f"checklist item '{item}': give a value")
    detail: dict[str, Any] = {"item": item, "value": value}
    path = Path(value).expanduser()
    if path.is_file():  # a file (a decision record): pin its content
        from tunewise.artifacts import sha256_file

        detail.update(value=str(path.resolve()), sha256=sha256_file(path))
    with transaction(engine) as s:
        from tunewise.artifacts import canonical_json

        row = RegistryEvent(kind=RECORD_KIND, feature=feature, detail_json=canonical_json(detail),
                            recorded_by=current_user(by))  # fmt: skip
        s.add(row)
        s.flush()
        return event_record_dict(s, row)


def _holder(s: Session, feature: str, alias: str) -> Model | None:
    row = s.get(Alias, (feature, alias))
    return s.get(Model, row.model_id) if row and row.model_id else None


def _decision_file(m: Model | None) -> Path | None:
    """The decision.json of the run that made the model: beside its folder (`runs/NAME/adapter`
    from `tunewise train`), or in the run's `decide/` stage a level or two up (`tunewise run`:
    `runs/P/train/adapter`, the classifier's `runs/P/baseline/classifier/model`)."""
    if m is None or not m.adapter_path:
        return None
    for folder in list(Path(m.adapter_path).parents)[:3]:
        for path in (folder / "decision.json", folder / "decide" / "decision.json"):
            if path.is_file():
                return path
    return None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _decision(feature: str, m: Model | None, rec: dict[str, tuple[str, str]]) -> Item:
    path = _decision_file(m)
    data = _read(path) if path else None
    if data is not None and path is not None:
        run = path.parent.parent if path.parent.name == "decide" else path.parent
        text = f"recommendation: {data.get('recommendation', '?')}"
        summary = _read(run / "summary.json") or {}
        base = (summary.get("details") or {}).get("baseline") or {}
        if base:
            text += "; variants without training " + ", ".join(
                f"{k} {v:.1%}" for k, v in base.items() if isinstance(v, int | float)
            )
        return _found("decision_record", text, str(path))
    if "decision_record" in rec:
        return _found("decision_record", *rec["decision_record"])
    return _missing("decision_record", "write one with `tunewise decide --json > decision.json` "
                    f"(`tunewise run` writes it too), then {_record_fix(feature, 'decision_record', 'decision.json')}")  # fmt: skip


def _dataset(s: Session, m: Model | None) -> Item:
    ds = s.get(Dataset, m.dataset_id) if m is not None and m.dataset_id is not None else None
    if ds is not None and ds.semver:
        return _found("dataset", f"{ds.semver} sha256 {ds.manifest_sha256[:12]}", ds.location)
    if ds is not None:
        return _missing("dataset", f"the dataset at {ds.location} has no semver in its manifest; "
                        "prepare it again with `tunewise data prepare`")  # fmt: skip
    known = f" (its manifest hash {m.dataset_sha256[:12]})" if m and m.dataset_sha256 else ""
    return _missing("dataset", f"register the model's dataset{known}: "
                    "`tunewise registry register-dataset DATASET_DIR`")  # fmt: skip


def _gate(s: Session, feature: str, m: Model, golden: str | None) -> GateDecision | None:
    from tunewise.registry import aliases

    current, _ = aliases.current_golden(s, feature, m, golden)
    if current is None:
        return None
    return aliases.find_gate(s, m, _holder(s, feature, "production"), current)


def _rules(gate: GateDecision) -> dict[str, dict[str, Any]]:
    rules = json.loads(gate.rules_json)
    items = rules if isinstance(rules, list) else []
    return {str(r.get("rule") or r.get("name")): r for r in items if isinstance(r, dict)}


def _eval_items(s: Session, feature: str, m: Model | None, golden: str | None) -> list[Item]:
    gate = _gate(s, feature, m, golden) if m is not None else None
    record = f"`tunewise registry record-gate REPORT --feature {feature}`"
    if gate is None:
        fix = f"evaluate the model against {feature}@production on the golden set, then {record}"
        return [_missing("eval_report", fix), _missing("safety", fix)]
    source = gate.report_path or f"registry gate #{gate.id}"
    rules = _rules(gate)
    bucket = rules.get("bucket_drop", {})
    if not gate.passed or bucket.get("status") == "block":
        detail = bucket.get("detail") or "the gate blocked it"
        eval_item = _missing(
            "eval_report",
            f"fix the model and re-run the eval, then {record}",
            f"gate #{gate.id}: {detail}",
        )
    else:
        eval_item = _found(
            "eval_report",
            f"gate #{gate.id} passed; {bucket.get('detail', 'no bucket rule')}",
            source,
        )
    safety = rules.get("safety")
    if safety is not None and safety.get("status") == "pass":
        safety_item = _found("safety", str(safety.get("detail")), source)
    else:
        why = safety.get("detail") if safety else "the gate has no safety rule"
        safety_item = _missing(
            "safety",
            "tag the golden set's safety cases (`gate.safety_tags`) and "
            f"re-run the eval, then {record}",
            why,
        )
    return [eval_item, safety_item]  # fmt: skip


def _control_items(s: Session, feature: str) -> list[Item]:
    from tunewise.registry.lineage import verify_model

    control = _holder(s, feature, "production")
    promote = f"`tunewise registry promote MODEL --feature {feature}`"
    if control is None:
        return [_missing("gateway_entry", f"give the feature a control: {promote}"),
                _missing("rollback_target", f"give the feature a control: {promote}")]  # fmt: skip
    entry = _found(
        "gateway_entry",
        f"'{feature}' routes to {control.name}",
        f"registry alias {feature}@production",
    )
    try:
        verify_model(s, control)
    except RegistryError as exc:
        return [
            entry,
            _missing(
                "rollback_target", f"restore its files or promote another: {promote}", str(exc)
            ),
        ]
    return [entry, _found("rollback_target", f"{control.name} (files verified)", f"registry alias {feature}@production")]  # fmt: skip


def _flag(s: Session, feature: str) -> Item:
    from tunewise.serve.tables import ServeFlag

    row = s.get(ServeFlag, feature)
    if row is None:
        return _found("flag_off", "canary 0% (no flag set yet)", "serve_flags")
    if row.killed or row.canary_bp == 0:
        state = "kill switch on" if row.killed else "canary 0%"
        return _found("flag_off", state, f"serve_flags (set by {row.updated_by})")
    return _missing(
        "flag_off", f"`tunewise flags set {feature} canary=0`", f"canary {row.canary_bp / 100:g}%"
    )


def _cost(s: Session, feature: str, m: Model | None, rec: dict[str, tuple[str, str]]) -> Item:
    ds = s.get(Dataset, m.dataset_id) if m is not None and m.dataset_id is not None else None
    manifest = _read(Path(ds.location) / "manifest.json") if ds else None
    cost = (manifest or {}).get("cost") or {}
    if cost.get("training_usd") is not None:
        text = f"training ${cost['training_usd']:.2f} on {cost.get('target')}"
        be = cost.get("break_even") or {}
        if be:
            text += f"; inference ${be.get('monthly_cost_base', 0):.2f} -> ${be.get('monthly_cost_finetuned', 0):.2f} a month"
        return _found("cost", text, f"{ds.location}/manifest.json" if ds else "dataset manifest")
    if "cost" in rec:
        return _found("cost", *rec["cost"])
    return _missing("cost", _record_fix(feature, "cost", "$40/month at 10k requests/day"))


def _config_items(
    feature: str, project: Any, source: str, rec: dict[str, tuple[str, str]]
) -> list[Item]:
    monitor = getattr(project, "monitor", None)
    if monitor is not None and "triggers" in monitor.model_fields_set:
        t = monitor.triggers
        on = [
            k
            for k in (
                "drift",
                "outlier_share",
                "label_psi",
                "quality_margin",
                "max_age_days",
                "reviewed_rows",
            )
            if getattr(t, k)
        ]
        trigger = _found("retrain_trigger", f"monitor.triggers: {', '.join(on)}", source)
    elif "retrain_trigger" in rec:
        trigger = _found("retrain_trigger", *rec["retrain_trigger"])
    else:
        trigger = _missing(
            "retrain_trigger",
            "set `monitor.triggers` in tunewise.yaml (run `tunewise monitor "
            f"{feature} --check` on a schedule), or {_record_fix(feature, 'retrain_trigger', 'daily monitor --check')}",
        )
    owner_cfg = getattr(getattr(project, "rollout", None), "owner", None)
    if owner_cfg:
        owner = _found("owner", owner_cfg, f"{source}: rollout.owner")
    elif "owner" in rec:
        owner = _found("owner", *rec["owner"])
    else:
        owner = _missing(
            "owner",
            f"set `rollout.owner` in tunewise.yaml, or {_record_fix(feature, 'owner', 'ana@example.com')}",
        )
    return [trigger, owner]  # fmt: skip


def run_checklist(
    engine: Engine,
    feature: str,
    model: str | None = None,
    *,
    project: Any = None,
    project_source: str = "tunewise.yaml",
    golden_sha256: str | None = None,
) -> list[Item]:
    """Every item for rolling `model` (default: the holder of FEATURE@canary) out on `feature`."""
    from tunewise.registry.lineage import find_model

    with transaction(engine) as s:
        m = find_model(s, model) if model else _holder(s, feature, "canary")
        if m is None:
            raise RolloutError(
                f"{feature}@canary holds no model: name the model to check "
                f"(`tunewise checklist {feature} MODEL`)"
            )
        rec = recorded(s, feature)
        items = [
            _decision(feature, m, rec),
            _dataset(s, m),
            *_eval_items(s, feature, m, golden_sha256),
            *_control_items(s, feature),
            _flag(s, feature),
            _cost(s, feature, m, rec),
            *_config_items(feature, project, project_source, rec),
        ]
    order = list(ITEMS)
    return sorted(items, key=lambda i: order.index(i.name))
