"""What a rollout writes, inside the caller's transaction: steps, decisions (each also a registry
event on the candidate, so `tunewise registry lineage` shows the rollout), the canary share, and
the end state. Keeping all of it in one transaction means a decision, its event and the share it
sets are never seen apart."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tunewise.artifacts import canonical_json
from tunewise.registry.tables import Model, RegistryEvent
from tunewise.serve.rollout.tables import LIVE, Rollout, RolloutDecision, RolloutStep
from tunewise.serve.routing import BUCKETS, Flag
from tunewise.store.base import utcnow

SHADOW = -1
EVENT_PREFIX = "rollout."


def percent_of(r: Rollout, index: int | None = None) -> float:
    """The live canary share (percent) of step `index` (default: the current one)."""
    index = r.step_index if index is None else index
    return 0.0 if index == SHADOW else float(r.steps[index])


def stage_name(r: Rollout, index: int | None = None) -> str:
    index = r.step_index if index is None else index
    return (
        f"shadow {r.shadow_percent:g}%"
        if index == SHADOW
        else f"step {index + 1} ({percent_of(r, index):g}%)"
    )


def live(s: Session, feature: str, *, lock: bool = False) -> Rollout | None:
    """The feature's rollout that has not finished, if any."""
    query = select(Rollout).where(Rollout.feature == feature, Rollout.state.in_(LIVE))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return s.scalars(query).first()


def decide(
    s: Session,
    r: Rollout,
    action: str,
    reason: str,
    *,
    by: str,
    figures: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> RolloutDecision:
    """Record a decision and the registry event that mirrors it."""
    model = s.scalar(select(Model).where(Model.name == r.model))
    detail = {
        "rollout": r.id,
        "stage": stage_name(r),
        "percent": percent_of(r),
        "reason": reason,
        "figures": figures,
        "model": r.model,
        "control": r.control_model,
    }
    event = RegistryEvent(
        kind=EVENT_PREFIX + action,
        feature=r.feature,
        model_id=model.id if model is not None else None,
        detail_json=canonical_json(detail),
        created_at=now or utcnow(),
        recorded_by=by[:128],
    )
    s.add(event)
    s.flush()
    row = RolloutDecision(
        rollout_id=r.id,
        at=now or utcnow(),
        step_index=r.step_index,
        percent=percent_of(r),
        action=action,
        reason=reason,
        figures=figures,
        by=by[:128],
        registry_event_id=event.id,
    )
    s.add(row)
    r.version += 1
    s.flush()
    return row


def set_share(s: Session, r: Rollout, percent: float, *, by: str, reason: str) -> None:
    """The canary share every server routes by (the flags table, with its history)."""
    from tunewise.serve.flags import write_flag

    bp = round(percent * BUCKETS / 100)
    write_flag(s, r.feature, Flag(bp, killed=False), by=by[:128], reason=reason)


def _close_step(s: Session, r: Rollout, result: str, now: datetime) -> None:
    step = s.scalars(
        select(RolloutStep)
        .where(RolloutStep.rollout_id == r.id, RolloutStep.ended_at.is_(None))
        .order_by(RolloutStep.id.desc())
    ).first()
    if step is not None:
        step.ended_at, step.result = now, result


def enter(s: Session, r: Rollout, index: int, *, by: str, now: datetime | None = None) -> None:
    """Start stage `index` (SHADOW or a step): close the last one, set the share."""
    now = now or utcnow()
    _close_step(s, r, "passed", now)  # the stage before, if any
    r.step_index, r.step_started_at = index, now
    r.state = "shadow" if index == SHADOW else "running"
    s.add(RolloutStep(rollout_id=r.id, step_index=index, percent=percent_of(r), started_at=now))
    set_share(s, r, percent_of(r), by=by, reason=f"rollout #{r.id}: {stage_name(r)}")
    r.version += 1
    s.flush()


def finish(
    s: Session, r: Rollout, state: str, outcome: str, *, by: str, now: datetime | None = None
) -> None:
    """End the rollout: `promoted`, `rolled_back` or `aborted` (the share drops to 0)."""
    now = now or utcnow()
    _close_step(s, r, {"promoted": "promoted", "rolled_back": "failed"}.get(state, "aborted"), now)
    r.state, r.outcome, r.finished_at, r.active_feature = state, outcome, now, None
    set_share(s, r, 0.0, by=by, reason=f"rollout #{r.id} {state}: {outcome}"[:2000])
    r.version += 1
    s.flush()
