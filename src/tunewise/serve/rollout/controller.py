"""The rollout controller: one look at a feature's live rollout, and what it decides.

`tick(engine, feature, holder)` takes (or renews) the feature's lease, looks at the current
stage and acts in one transaction that re-checks the lease:
- a metric worse beyond its margin rolls back at once (canary share 0, the figures recorded);
- a stage whose interval has passed with enough requests on both arms passes: the next step's
  share is set, or after the last step the canary is promoted to `FEATURE@production` through
  the registry's gated promote (a refusal pauses the rollout with the registry's reason);
- a stage whose interval has passed without enough requests holds (recorded once an interval):
  missing data never promotes and never rolls back;
- the kill switch, or `FEATURE@production`/`@canary` changed outside the rollout, aborts it; a
  canary share changed by hand pauses it.

Where it runs: every `tunewise serve` runs `ControllerLoop` (unless `rollout.controller` is
false), which ticks every live rollout every `rollout.tick`; only the lease holder acts, so one
server decides per feature however many replicas run. `tunewise rollout tick` does the same
once, for cron or for a deployment without a gateway process to spare.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tunewise.errors import RegistryError
from tunewise.registry.tables import Alias, Model
from tunewise.serve.rollout import lease, records
from tunewise.serve.rollout.config import parse_interval
from tunewise.serve.rollout.look import Look, look, settings_of
from tunewise.serve.rollout.records import SHADOW, percent_of, stage_name
from tunewise.serve.rollout.tables import LIVE, Rollout, RolloutDecision
from tunewise.serve.tables import ServeFlag
from tunewise.store import transaction
from tunewise.store.base import as_utc, utcnow


@dataclass(frozen=True)
class TickResult:
    feature: str
    outcome: str
    """idle | lease_held | paused | changed | wait | held | passed | promoted | rolled_back |
    aborted | promotion_refused"""
    detail: str = ""
    rollout: int | None = None


def live_features(engine: Engine) -> list[Rollout]:
    """Every live rollout (for the controller loop and the shadow mirror)."""
    with transaction(engine) as s:
        return list(s.scalars(select(Rollout).where(Rollout.state.in_(LIVE))))


def tick(engine: Engine, feature: str, holder: str, *, now: datetime | None = None) -> TickResult:
    """One look at `feature`'s live rollout; acts only while `holder` holds the lease."""
    now = now or utcnow()
    with transaction(engine) as s:
        r = records.live(s, feature)
    if r is None:
        return TickResult(feature, "idle")
    other = lease.acquire(engine, feature, holder, parse_interval(settings_of(r).lease), now)
    if other is not None:
        return TickResult(feature, "lease_held", other, r.id)
    if r.state == "paused":
        return TickResult(feature, "paused", r.outcome or "", r.id)
    with transaction(engine) as s:
        r = records.live(s, feature)
        if r is None or r.state == "paused":
            return TickResult(feature, "changed")
        guard = _guard(s, r)
        seen = look(s, r, now)
    with transaction(engine) as s:
        current = records.live(s, feature, lock=True)
        if not lease.holds(s, feature, holder, now):
            return TickResult(feature, "lease_held", "lost the lease before acting", r.id)
        if current is None or current.id != r.id or current.version != r.version:
            return TickResult(feature, "changed", "the rollout changed meanwhile", r.id)
        return _act(s, current, guard, seen, by=f"rollout-controller {holder}", now=now)


def _guard(s: Session, r: Rollout) -> tuple[str, str] | None:
    """Something outside the rollout changed what it controls: (abort|pause, why)."""
    flag = s.get(ServeFlag, r.feature)
    if flag is not None and flag.killed:
        return "abort", f"the kill switch was set by {flag.updated_by}"
    expected = round(percent_of(r) * 100)
    actual = flag.canary_bp if flag is not None else 0
    if actual != expected:
        who = flag.updated_by if flag is not None else "?"
        return "pause", (
            f"the canary share was set by hand to {actual / 100:g}% by {who} (the rollout "
            f"expects {expected / 100:g}%); `tunewise rollout resume {r.feature}` sets it back"
        )
    for alias, expect in (("production", r.control_model), ("canary", r.model)):
        row = s.get(Alias, (r.feature, alias))
        holder = s.get(Model, row.model_id) if row and row.model_id else None
        name = holder.name if holder else None
        if name != expect:
            return "abort", f"{r.feature}@{alias} was changed outside the rollout to {name}"
    return None


def _act(
    s: Session, r: Rollout, guard: tuple[str, str] | None, seen: Look, *, by: str, now: datetime
) -> TickResult:
    feature, stage = r.feature, stage_name(r)
    if guard is not None:
        action, why = guard
        if action == "abort":
            records.decide(s, r, "aborted", why, by=by, figures=seen.figures, now=now)
            records.finish(s, r, "aborted", why, by=by, now=now)
            return TickResult(feature, "aborted", why, r.id)
        pause(s, r, why, by=by, now=now)
        return TickResult(feature, "paused", why, r.id)
    verdict = seen.verdict
    if verdict.action == "fail":
        why = f"{stage} failed: {verdict.reason}"
        records.decide(s, r, "rolled_back", why, by=by, figures=seen.figures, now=now)
        records.finish(s, r, "rolled_back", why, by=by, now=now)
        return TickResult(feature, "rolled_back", why, r.id)
    if verdict.action == "hold":
        if not _held_recently(s, r, now):
            records.decide(s, r, "held", f"{stage} holds: {verdict.reason}", by=by,
                           figures=seen.figures, now=now)  # fmt: skip
        return TickResult(feature, "held", verdict.reason, r.id)
    if verdict.action == "wait":
        return TickResult(feature, "wait", verdict.reason, r.id)
    records.decide(s, r, "step_passed", f"{stage} passed: {verdict.reason}", by=by,
                   figures=seen.figures, now=now)  # fmt: skip
    if r.step_index == len(r.steps) - 1:
        return _promote(s, r, by=by, now=now)
    records.enter(s, r, r.step_index + 1 if r.step_index != SHADOW else 0, by=by, now=now)
    records.decide(s, r, "step_started", f"canary share {percent_of(r):g}%", by=by, now=now)
    return TickResult(feature, "passed", stage, r.id)


def _held_recently(s: Session, r: Rollout, now: datetime) -> bool:
    last = s.scalars(
        select(RolloutDecision)
        .where(RolloutDecision.rollout_id == r.id)
        .order_by(RolloutDecision.id.desc())
    ).first()
    interval = parse_interval(settings_of(r).interval)
    return (
        last is not None
        and last.action == "held"
        and last.step_index == r.step_index
        and now - as_utc(last.at) < interval
    )


def _promote(s: Session, r: Rollout, *, by: str, now: datetime) -> TickResult:
    from tunewise.registry import aliases

    golden = r.settings.get("golden_sha256")
    reason = f"rollout #{r.id}: every step passed on live traffic"
    try:
        with s.begin_nested():
            event = aliases.promote(s, r.model, r.feature, "production", reason, by[:128],
                                    False, golden)  # fmt: skip
    except RegistryError as exc:
        why = f"the registry refused the promotion: {exc}"
        records.decide(s, r, "promotion_refused", why, by=by, now=now)
        pause(s, r, why, by=by, now=now, record=False)
        return TickResult(r.feature, "promotion_refused", why, r.id)
    done = f"promoted to {r.feature}@production (alias event #{event.id})"
    records.decide(s, r, "promoted", done, by=by, figures={"alias_event": event.id}, now=now)
    records.finish(s, r, "promoted", done, by=by, now=now)
    return TickResult(r.feature, "promoted", done, r.id)


def pause(
    s: Session, r: Rollout, why: str, *, by: str, now: datetime | None = None, record: bool = True
) -> None:
    """Stop deciding; the canary keeps its share until resumed or aborted."""
    if record:
        records.decide(s, r, "paused", why, by=by, now=now)
    r.paused_from, r.state, r.outcome = r.state, "paused", why
    r.version += 1


def status_line(r: Rollout) -> dict[str, Any]:
    """The rollout row, JSON-ready."""
    return {
        "id": r.id,
        "feature": r.feature,
        "model": r.model,
        "control": r.control_model,
        "state": r.state,
        "stage": stage_name(r),
        "step_index": r.step_index,
        "percent": percent_of(r),
        "steps": r.steps,
        "shadow_percent": r.shadow_percent,
        "step_started_at": as_utc(r.step_started_at).isoformat(),
        "started_at": as_utc(r.started_at).isoformat(),
        "started_by": r.started_by,
        "finished_at": as_utc(r.finished_at).isoformat() if r.finished_at else None,
        "outcome": r.outcome,
        "settings": r.settings,
        "checklist": r.checklist,
    }
