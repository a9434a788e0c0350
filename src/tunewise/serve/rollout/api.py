"""The rollout's library API, which `tunewise rollout ...` and the admin routes call.

start_rollout(engine, "support-v2", "support", cfg=RolloutConfig(), shadow=5, checklist=items)
rollout_status(engine, "support")          # figures, decisions, steps, lease
pause_rollout / resume_rollout / abort_rollout(engine, "support", reason=..., by=...)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from tunewise.errors import ConfigError, RegistryError, RolloutError, RolloutNotFound
from tunewise.registry.tables import Alias, Model
from tunewise.serve.rollout import lease, records
from tunewise.serve.rollout.checklist import Item, missing_items
from tunewise.serve.rollout.config import RolloutConfig
from tunewise.serve.rollout.context import RolloutContext
from tunewise.serve.rollout.controller import pause, status_line
from tunewise.serve.rollout.look import look
from tunewise.serve.rollout.records import SHADOW
from tunewise.serve.rollout.series import series
from tunewise.serve.rollout.tables import LIVE, Rollout, RolloutDecision, RolloutStep
from tunewise.store import transaction
from tunewise.store.base import as_utc, utcnow


def _holder(s: Any, feature: str, alias: str) -> Model | None:
    row = s.get(Alias, (feature, alias))
    return s.get(Model, row.model_id) if row and row.model_id else None


def start_rollout(
    engine: Engine,
    model: str,
    feature: str,
    *,
    cfg: RolloutConfig,
    shadow: float = 0.0,
    checklist: list[Item] | None = None,
    force: bool = False,
    reason: str | None = None,
    by: str,
    golden_sha256: str | None = None,
    json_schema: bool = False,
    label_field: str | None = None,
    judge: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Put `model` on `feature@canary` (gated against production) and start its first stage;
    `judge` (the judge scorer's parameters) adds the LLM judge's `judge` metric."""
    from tunewise.registry import aliases
    from tunewise.registry.lineage import find_model

    if not 0 <= shadow <= 100:
        raise ConfigError(f"--shadow {shadow:g}: the shadow share is a percentage (0-100)")
    if force and not (reason and reason.strip()):
        raise ConfigError("--force needs --reason: say why (it is recorded with the rollout)")
    missing = missing_items(checklist or [])
    if missing and not force:
        lines = "\n".join(f"  - {i.title}: missing; {i.fix}" for i in missing)
        raise RolloutError(
            f"refusing to start a rollout of '{model}' on '{feature}': the pre-deploy checklist "
            f"has {len(missing)} missing item(s):\n{lines}\n(or pass --force --reason '...', recorded)"
        )
    now = utcnow()
    with transaction(engine) as s:
        cand = find_model(s, model)
        control = _holder(s, feature, "production")
        if control is None:
            raise RolloutError(
                f"'{feature}' has no control: {feature}@production holds no model; promote one "
                f"first (`tunewise registry promote MODEL --feature {feature}`)"
            )
        if control.id == cand.id:
            raise RolloutError(f"'{cand.name}' already holds {feature}@production")
        existing = records.live(s, feature, lock=True)
        if existing is not None:
            raise RolloutError(_running(existing))
        canary = _holder(s, feature, "canary")
        if canary is None or canary.id != cand.id:
            aliases.promote(
                s, cand.name, feature, "canary",
                reason or f"rollout on {feature}", by, force, golden_sha256, "production",
            )  # fmt: skip
        settings = {
            "config": cfg.model_dump(mode="json"),
            "golden_sha256": golden_sha256,
            "json_schema": json_schema,
            "label_field": label_field,
            "judge": judge,
        }
        r = Rollout(
            feature=feature, active_feature=feature, model=cand.name,
            control_model=control.name, state="running", step_index=SHADOW if shadow else 0,
            step_started_at=now, steps=list(cfg.steps), shadow_percent=float(shadow),
            settings=settings, checklist=_checklist_record(checklist, force, reason),
            started_at=now, started_by=by, version=0,
        )  # fmt: skip
        s.add(r)
        s.flush()
        why = f"rollout of '{cand.name}' against '{control.name}', steps {_steps(cfg.steps)}"
        if shadow:
            why += f", shadow {shadow:g}% first"
        if missing:
            why += f"; checklist forced ({', '.join(i.name for i in missing)}): {reason}"
        records.decide(s, r, "started", why, by=by, figures={"checklist": r.checklist}, now=now)
        records.enter(s, r, SHADOW if shadow else 0, by=by, now=now)
        return status_line(r)


def _steps(steps: list[float]) -> str:
    return ",".join(f"{p:g}" for p in steps)


def _checklist_record(
    items: list[Item] | None, force: bool, reason: str | None
) -> dict[str, Any] | None:
    if items is None:
        return None
    missing = [i.name for i in missing_items(items)]
    return {
        "items": [i.as_dict() for i in items],
        "forced": bool(missing) and force,
        "missing": missing,
        "reason": reason if missing and force else None,
    }


def _live_or_fail(s: Any, feature: str) -> Rollout:
    r = records.live(s, feature, lock=True)
    if r is None:
        raise RolloutNotFound(
            f"no rollout is running on '{feature}'; start one with "
            f"`tunewise rollout start MODEL --feature {feature}`"
        )
    return r


def pause_rollout(engine: Engine, feature: str, *, reason: str | None, by: str) -> dict[str, Any]:
    """Stop the controller's decisions; the canary keeps its current share."""
    with transaction(engine) as s:
        r = _live_or_fail(s, feature)
        if r.state == "paused":
            raise RolloutError(f"rollout #{r.id} on '{feature}' is already paused")
        pause(s, r, reason or f"paused by {by}", by=by)
        return status_line(r)


def resume_rollout(engine: Engine, feature: str, *, reason: str | None, by: str) -> dict[str, Any]:
    """Resume a paused rollout: its current stage starts over with fresh data at its share."""
    with transaction(engine) as s:
        r = _live_or_fail(s, feature)
        if r.state != "paused":
            raise RolloutError(f"rollout #{r.id} on '{feature}' is {r.state}, not paused")
        r.state = r.paused_from or ("shadow" if r.step_index == SHADOW else "running")
        r.paused_from, r.outcome = None, None
        records.decide(s, r, "resumed", reason or f"resumed by {by}", by=by)
        records.enter(s, r, r.step_index, by=by)
        return status_line(r)


def abort_rollout(engine: Engine, feature: str, *, reason: str | None, by: str) -> dict[str, Any]:
    """Roll back now: canary share 0, the rollout ends as aborted."""
    with transaction(engine) as s:
        r = _live_or_fail(s, feature)
        why = reason or f"aborted by {by}"
        figures = None
        try:
            figures = look(s, r, utcnow()).figures
        except Exception:  # the figures are a courtesy; aborting must not depend on them
            figures = None
        records.decide(s, r, "aborted", why, by=by, figures=figures)
        records.finish(s, r, "aborted", why, by=by)
        return status_line(r)


def _decision_dict(d: RolloutDecision) -> dict[str, Any]:
    return {
        "id": d.id,
        "at": as_utc(d.at).isoformat(),
        "stage_index": d.step_index,
        "percent": d.percent,
        "action": d.action,
        "reason": d.reason,
        "by": d.by,
        "registry_event": d.registry_event_id,
        "figures": d.figures,
    }


def _step_dict(st: RolloutStep) -> dict[str, Any]:
    return {
        "index": st.step_index,
        "percent": st.percent,
        "started_at": as_utc(st.started_at).isoformat(),
        "ended_at": as_utc(st.ended_at).isoformat() if st.ended_at else None,
        "result": st.result,
    }


def latest_rollout(s: Any, feature: str) -> Rollout | None:
    return s.scalars(
        select(Rollout).where(Rollout.feature == feature).order_by(Rollout.id.desc())
    ).first()


def rollout_status(
    engine: Engine, feature: str, *, now: datetime | None = None, rollout_id: int | None = None
) -> dict[str, Any]:
    """The feature's latest (or given) rollout: state, current figures, steps, decisions, lease."""
    now = now or utcnow()
    with transaction(engine) as s:
        r = s.get(Rollout, rollout_id) if rollout_id else latest_rollout(s, feature)
        if r is None or r.feature != feature:
            raise RolloutNotFound(
                f"no rollout found for '{feature}'; start one with "
                f"`tunewise rollout start MODEL --feature {feature}`"
            )
        out = status_line(r)
        out["current"] = look(s, r, now).figures if r.state in LIVE else None
        steps = s.scalars(
            select(RolloutStep).where(RolloutStep.rollout_id == r.id).order_by(RolloutStep.id)
        )
        out["stages"] = [_step_dict(st) for st in steps]
        decisions = s.scalars(
            select(RolloutDecision)
            .where(RolloutDecision.rollout_id == r.id)
            .order_by(RolloutDecision.id)
        )
        out["decisions"] = [_decision_dict(d) for d in decisions]
        end = as_utc(r.finished_at) if r.finished_at else now
        out["series"] = series(s, feature, as_utc(r.started_at), end)
    out["lease"] = lease.lease_of(engine, feature)
    out["as_of"] = now.isoformat()
    return out  # fmt: skip


def list_rollouts(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    """Recent rollouts of every feature, newest first."""
    with transaction(engine) as s:
        rows = s.scalars(select(Rollout).order_by(Rollout.id.desc()).limit(limit))
        return [status_line(r) for r in rows]


def check_startable(engine: Engine, model: str, feature: str) -> None:
    """Fail early (before the checklist) when the model is unknown or a rollout is running."""
    from tunewise.registry.lineage import find_model

    with transaction(engine) as s:
        try:
            find_model(s, model)
        except RegistryError as exc:
            raise RolloutError(str(exc)) from None
        existing = records.live(s, feature)
        if existing is not None:
            raise RolloutError(_running(existing))


def _running(r: Rollout) -> str:
    return (
        f"rollout #{r.id} of '{r.model}' on '{r.feature}' is {r.state}; abort it first "
        f"(`tunewise rollout abort {r.feature}`)"
    )


def launch(
    engine: Engine,
    model: str,
    feature: str,
    ctx: RolloutContext,
    *,
    overrides: dict[str, Any] | None = None,
    shadow: float = 0.0,
    force: bool = False,
    reason: str | None = None,
    by: str,
) -> dict[str, Any]:
    """`tunewise rollout start`: the checklist, then `start_rollout` with the project's settings
    (`overrides` replace fields of the `rollout:` section for this rollout)."""
    from pydantic import ValidationError

    from tunewise.serve.rollout.checklist import run_checklist

    try:
        cfg = RolloutConfig.model_validate({**ctx.config.model_dump(), **(overrides or {})})
    except ValidationError as exc:
        from tunewise.config import _humanize

        problems = "; ".join(_humanize(e) for e in exc.errors())  # type: ignore[arg-type]
        raise ConfigError(f"rollout settings: {problems}") from None
    check_startable(engine, model, feature)
    golden = ctx.golden_sha256()
    items = run_checklist(engine, feature, model, project=ctx.project,
                          project_source=ctx.source, golden_sha256=golden)  # fmt: skip
    return start_rollout(
        engine, model, feature, cfg=cfg, shadow=shadow, checklist=items, force=force,
        reason=reason, by=by, golden_sha256=golden, json_schema=ctx.schema is not None,
        label_field=ctx.label_field, judge=ctx.judge,
    )  # fmt: skip
