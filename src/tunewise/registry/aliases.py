"""Aliases per feature (`support@production`, `support@canary`, ...): gated promotion,
one-step rollback, history and the routing table.

Atomicity: each change runs in one transaction that first locks the alias row: `SELECT ... FOR
UPDATE` on PostgreSQL (the row is created beforehand with INSERT ... ON CONFLICT DO NOTHING so
that first promotions race on the same row), and on SQLite the whole transaction holds the write
lock from its `BEGIN IMMEDIATE`. So the history is a chain: each event's `previous` is the model
the event before it installed, and the alias row always names the last event's model.

The "current golden set" of a feature, which a passing gate must have been computed on, is:
1. the content hash (`tunewise.evaluate.golden.load_golden(path).hash`, the `golden_sha256` eval
   reports carry) of the configured golden file (`registry.golden` / `--golden`), when set;
2. else the golden hash of the latest gate recorded for that feature (`record-gate --feature`),
   so that a newer golden set invalidates gates computed on an older one;
3. else the golden hash of the candidate's own latest gate.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tunewise.errors import RegistryError
from tunewise.registry.lineage import event_dict, find_model, verify_model
from tunewise.registry.tables import Alias, AliasEvent, GateDecision, Model, as_utc, utcnow

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _check_names(feature: str, alias: str) -> None:
    for what, value in (("feature", feature), ("alias", alias)):
        if not _NAME.match(value):
            raise RegistryError(
                f"{what} '{value}' is not a valid name: use letters, digits, '.', '_' or '-' (max 64)"
            )


def is_base_reference(cand: Model, reference: str | dict[str, Any]) -> bool:
    """Does a gate's baseline (a name, or a report side) denote the candidate's base model?

    A classifier replaces prompting an LLM, so its base is a prompt-only variant: any report side
    without an adapter that is not itself a classifier (names were checked when recorded).
    """
    if cand.kind == "classifier":
        if not isinstance(reference, dict):
            return True
        ident, variant = reference.get("identity") or {}, reference.get("variant") or {}
        return (
            not (ident.get("adapter_hash") or variant.get("adapter"))
            and ident.get("kind") != "classifier"
        )
    if isinstance(reference, dict):
        ident, variant = reference.get("identity") or {}, reference.get("variant") or {}
        if ident.get("adapter_hash") or variant.get("adapter"):
            return False
        if cand.base_hash and ident.get("base_hash") == cand.base_hash:
            return True
        reference = str(ident.get("model") or variant.get("model") or "")
        if not reference:
            return False
    from tunewise.models import model_id

    if (
        reference in {"base", cand.base_id, cand.base_hash, cand.base_path}
        or model_id(reference) == cand.base_id
    ):
        return True
    return (
        bool(cand.base_path)
        and Path(reference).expanduser().resolve() == Path(str(cand.base_path)).resolve()
    )


def current_golden(
    s: Session, feature: str, cand: Model | None, configured: str | None
) -> tuple[str | None, str]:
    """(golden sha256, where it came from) for promotions in `feature` (see the module doc)."""
    if configured:
        return configured, "the configured golden set (registry.golden)"
    latest = s.scalars(
        select(GateDecision)
        .where(GateDecision.feature == feature)
        .order_by(GateDecision.id.desc())
        .limit(1)
    ).first()
    if latest is not None:
        return (
            latest.golden_sha256,
            f"the latest gate recorded for feature '{feature}' (#{latest.id})",
        )
    if cand is not None:
        own = s.scalars(
            select(GateDecision)
            .where(GateDecision.candidate_id == cand.id)
            .order_by(GateDecision.id.desc())
            .limit(1)
        ).first()
        if own is not None:
            return own.golden_sha256, f"the latest gate of '{cand.name}' (#{own.id})"
    return None, "no gate recorded"


def find_gate(s: Session, cand: Model, holder: Model | None, golden: str) -> GateDecision | None:
    """The latest gate of `cand` against `holder` (or its base when None) on `golden`."""
    query = select(GateDecision).where(
        GateDecision.candidate_id == cand.id, GateDecision.golden_sha256 == golden
    )
    if holder is not None:
        query = query.where(GateDecision.reference_model_id == holder.id)
    else:
        query = query.where(GateDecision.reference_model_id.is_(None))
    for gate in s.scalars(query.order_by(GateDecision.id.desc())):
        if holder is not None or is_base_reference(cand, gate.reference):
            return gate
    return None


def _lock(s: Session, feature: str, alias: str) -> Alias:
    """The alias row, created if absent, locked for the rest of the transaction."""
    dialect = s.get_bind().dialect.name
    values = {
        "feature": feature,
        "alias": alias,
        "model_id": None,
        "event_id": None,
        "updated_at": utcnow(),
    }
    if dialect == "postgresql":
        s.execute(pg_insert(Alias).values(**values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        s.execute(sqlite_insert(Alias).values(**values).on_conflict_do_nothing())
    else:  # pragma: no cover - other databases
        try:
            with s.begin_nested():
                s.add(Alias(**values))
        except IntegrityError:
            pass
    query = select(Alias).where(Alias.feature == feature, Alias.alias == alias)
    return s.scalars(query.with_for_update().execution_options(populate_existing=True)).one()


def _failed_rules(rules_json: str) -> list[str]:
    """Names of the blocking rules: `{"rule", "status": "block"}` (evaluate/gate.py) or
    `{"name", "passed": false}` items, or `{name: false}` mappings."""
    rules = json.loads(rules_json)
    items = (
        rules.items()
        if isinstance(rules, dict)
        else enumerate(rules if isinstance(rules, list) else [])
    )
    failed = []
    for key, rule in items:
        if isinstance(rule, dict):
            status = str(rule.get("status", rule.get("outcome", ""))).lower()
            if (
                status in {"block", "blocked", "fail", "failed"}
                or rule.get("passed", rule.get("ok")) is False
            ):
                failed.append(str(rule.get("rule") or rule.get("name") or key))
        elif rule is False:
            failed.append(str(key))
    return failed


def _refusal(
    cand: Model,
    holder: Model | None,
    feature: str,
    alias: str,
    golden: str | None,
    source: str,
    gate: GateDecision | None,
) -> str:
    target = f"{feature}@{alias}"
    ref = (
        f"the current holder '{holder.name}'"
        if holder
        else f"its base model '{cand.base_id}' ({target} is empty)"
    )
    head = f"refusing to promote '{cand.name}' to {target}"
    bypass = "or pass --force --reason '...' (recorded)"
    if golden is None:
        return f"{head}: no gate decision is recorded for it; evaluate it against {ref}, record the result with `tunewise registry record-gate REPORT --feature {feature}`, {bypass}"
    if gate is None:
        return (
            f"{head}: no gate decision against {ref} on the current golden set {golden[:12]} (from "
            f"{source}); evaluate against it and run `tunewise registry record-gate REPORT --feature {feature}`, {bypass}"
        )
    failed = ", ".join(_failed_rules(gate.rules_json)) or "see the report"
    return f"{head}: the latest gate against {ref} on golden set {golden[:12]} (#{gate.id}) blocked it (failed: {failed}); {bypass}"


def promote(
    s: Session,
    model: str,
    feature: str,
    alias: str,
    reason: str | None,
    by: str,
    force: bool,
    configured_golden: str | None,
    gate_alias: str | None = None,
) -> AliasEvent:
    """Point feature@alias at `model` in the caller's transaction; see the module doc. The
    passing gate must be against the alias's current holder, or with `gate_alias` against the
    holder of feature@gate_alias (a canary is gated against production, not the last canary)."""
    _check_names(feature, alias)
    if force and not (reason and reason.strip()):
        raise RegistryError("--force needs --reason: say why the gate is bypassed (it is recorded)")
    cand = find_model(s, model)
    verify_model(s, cand)
    row = _lock(s, feature, alias)
    s.refresh(cand, with_for_update=True)  # a concurrent deprecate waits for us, or we see it
    if cand.deprecated_at is not None:
        raise RegistryError(f"'{cand.name}' is deprecated and cannot be promoted")
    holder = s.get(Model, row.model_id) if row.model_id is not None else None
    if holder is not None and holder.id == cand.id:
        raise RegistryError(f"'{cand.name}' already holds {feature}@{alias}")
    reference = holder
    if gate_alias is not None:
        ref_row = s.get(Alias, (feature, gate_alias))
        reference = s.get(Model, ref_row.model_id) if ref_row and ref_row.model_id else None
    golden, source = current_golden(s, feature, cand, configured_golden)
    gate = find_gate(s, cand, reference, golden) if golden else None
    allowed = gate is not None and gate.passed
    if not allowed and not force:
        raise RegistryError(_refusal(cand, reference, feature, alias, golden, source, gate))
    return _record(
        s,
        row,
        "promote",
        cand,
        row.event_id,
        reason,
        by,
        gate if allowed else None,
        forced=not allowed,
    )


def rollback(s: Session, feature: str, alias: str, reason: str | None, by: str) -> AliasEvent:
    """Give feature@alias back to the holder before the current one (a stack: repeatable)."""
    _check_names(feature, alias)
    row = _lock(s, feature, alias)
    current = s.get(AliasEvent, row.event_id) if row.event_id is not None else None
    if current is None:
        raise RegistryError(f"{feature}@{alias} has never been promoted; nothing to roll back")
    parent = (
        s.get(AliasEvent, current.parent_event_id) if current.parent_event_id is not None else None
    )
    if parent is None:
        holder = s.get(Model, current.model_id)
        raise RegistryError(
            f"{feature}@{alias} has no previous holder to roll back to ('{holder.name if holder else '?'}' is the first)"
        )
    target = s.get(Model, parent.model_id, with_for_update=True)
    assert target is not None
    if target.deprecated_at is not None:
        raise RegistryError(
            f"cannot roll {feature}@{alias} back to '{target.name}': it is deprecated; promote another model instead"
        )
    verify_model(s, target)
    return _record(
        s, row, "rollback", target, parent.parent_event_id, reason, by, None, forced=False
    )


def _record(
    s: Session,
    row: Alias,
    action: str,
    model: Model,
    parent: int | None,
    reason: str | None,
    by: str,
    gate: GateDecision | None,
    *,
    forced: bool,
) -> AliasEvent:
    event = AliasEvent(
        feature=row.feature,
        alias=row.alias,
        action=action,
        model_id=model.id,
        previous_model_id=row.model_id,
        parent_event_id=parent,
        gate_id=gate.id if gate else None,
        forced=forced,
        reason=reason,
        by=by,
    )
    s.add(event)
    s.flush()
    row.model_id, row.event_id, row.updated_at = model.id, event.id, utcnow()
    s.flush()
    return event


def history(s: Session, feature: str, alias: str) -> list[dict[str, Any]]:
    events = s.scalars(
        select(AliasEvent)
        .where(AliasEvent.feature == feature, AliasEvent.alias == alias)
        .order_by(AliasEvent.id)
    )
    return [event_dict(s, e) for e in events]


def _serving(m: Model) -> dict[str, Any]:
    base = {"id": m.base_id, "hash": m.base_hash, "path": m.base_path}
    if m.kind == "provider":
        return {"provider_model_id": m.provider_model_id, "base": base}
    if m.kind == "full":
        return {"model_path": m.adapter_path, "model_sha256": m.adapter_sha256, "base": base}
    if m.kind == "classifier":  # tunewise.evaluate.classifier.load_classifier(classifier_path)
        return {
            "classifier_path": m.adapter_path,
            "classifier_sha256": m.adapter_sha256,
            "embedder": base,
        }
    return {"adapter_path": m.adapter_path, "adapter_sha256": m.adapter_sha256, "base": base}


def routing_table(s: Session) -> dict[str, Any]:
    """`{"schema_version": 1, "routes": {"feature@alias": {model, kind, serving, since}}}`."""
    routes: dict[str, Any] = {}
    rows = s.scalars(
        select(Alias).where(Alias.model_id.is_not(None)).order_by(Alias.feature, Alias.alias)
    )
    for row in rows:
        m = s.get(Model, row.model_id)
        assert m is not None
        verify_model(s, m)
        routes[f"{row.feature}@{row.alias}"] = {
            "feature": row.feature,
            "alias": row.alias,
            "model": m.name,
            "kind": m.kind,
            "serving": _serving(m),
            "since": as_utc(row.updated_at).isoformat(),
        }
    return {"schema_version": 1, "routes": routes}
