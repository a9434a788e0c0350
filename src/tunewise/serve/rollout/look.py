"""One look at a rollout's current stage: the samples from the store, the comparisons, the figures.

Live steps read the request log (and the feedback joined to it) from the moment the step
started; a request is counted for the arm the user was assigned, so a canary failure that fell
back to control counts against the canary. At a 100% step nearly every user is on the canary,
so control's figures are those of the step before (or, when 100% is the first step, of the
interval before the rollout started). The shadow stage reads the mirrored pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from tunewise.serve.errors import Unsupported
from tunewise.serve.rollout.config import RolloutConfig, parse_interval
from tunewise.serve.rollout.judge import (
    SCORES,
    ArmSample,
    MetricResult,
    StageVerdict,
    alpha_per_check,
    compare_pairs,
    judge_step,
    p95,
    planned_n,
    stage_verdict,
)
from tunewise.serve.rollout.records import SHADOW, percent_of, stage_name
from tunewise.serve.rollout.tables import Feedback, Rollout, RolloutStep, ShadowPair
from tunewise.serve.tables import RequestLogRow
from tunewise.store.base import as_utc

ARMS = ("control", "canary")
NOT_JUDGED_IN_SHADOW = {"slow_share", "rating", "bad_outcome", "judge"}


def is_error(status: int, fallback: bool) -> bool | None:
    """Does a logged request count as a failure? None: not counted (the client's 4xx, or the
    client left). A fallback always counts against the canary: a fault, or a refusal of what
    control serves (`canary_error: unsupported_parameter`)."""
    if fallback or status >= 500 or status == 429:
        return True
    if status >= 400:
        return None
    return False


def settings_of(r: Rollout) -> RolloutConfig:
    return RolloutConfig.model_validate(r.settings["config"])


def margins_of(r: Rollout) -> dict[str, float]:
    judged = settings_of(r).judged()
    if not r.settings.get("json_schema"):
        judged.pop("json_schema", None)
    if not r.settings.get("judge"):
        judged.pop("judge", None)
    return judged


def stages_of(r: Rollout) -> int:
    return len(r.steps) + (1 if r.shadow_percent > 0 else 0)


def arm_samples(
    s: Session, feature: str, since: datetime, until: datetime, bad_outcomes: list[str]
) -> dict[str, ArmSample]:
    """Both arms' samples from the request log and feedback in [since, until)."""
    cols = (
        RequestLogRow.arm,
        RequestLogRow.fallback,
        RequestLogRow.status,
        RequestLogRow.latency_ms,
        RequestLogRow.scores,
    )
    query = select(*cols).where(
        RequestLogRow.feature == feature,
        RequestLogRow.at >= since,
        RequestLogRow.at < until,
        RequestLogRow.arm.in_(ARMS),
    )
    errors: dict[str, list[float]] = {a: [] for a in ARMS}
    latency: dict[str, list[float]] = {a: [] for a in ARMS}
    scores: dict[str, dict[str, list[float]]] = {a: {k: [] for k in SCORES} for a in ARMS}
    for arm, fallback, status, latency_ms, row_scores in s.execute(query):
        failed = is_error(status, fallback)
        if failed is None:
            continue
        arm = "canary" if fallback else arm
        errors[arm].append(float(failed))
        if not failed:
            latency[arm].append(latency_ms)
            for k, v in (row_scores or {}).items():
                if k in scores[arm] and isinstance(v, int | float):
                    scores[arm][k].append(float(v))
    ratings: dict[str, list[float]] = {a: [] for a in ARMS}
    bad: dict[str, list[float]] = {a: [] for a in ARMS}
    fb = select(Feedback.arm, Feedback.rating, Feedback.outcome).where(
        Feedback.feature == feature, Feedback.request_at >= since, Feedback.request_at < until
    )
    for arm, rating, outcome in s.execute(fb):
        if arm not in ARMS:
            continue
        if rating is not None:
            ratings[arm].append(rating)
        if outcome is not None:
            bad[arm].append(float(outcome in bad_outcomes))
    return {
        a: ArmSample(
            errors=np.asarray(errors[a]),
            latency=np.asarray(latency[a]),
            scores={k: np.asarray(v) for k, v in scores[a].items() if v},
            rating=np.asarray(ratings[a]),
            bad_outcome=np.asarray(bad[a]),
        )
        for a in ARMS
    }


def arm_summary(a: ArmSample) -> dict[str, Any]:
    """The figures status and /ui show for one arm."""

    def mean(x: np.ndarray) -> float | None:
        return round(float(x.mean()), 6) if x.size else None

    p = p95(a.latency)
    return {
        "requests": a.requests,
        "errors": int(a.errors.sum()),
        "error_rate": mean(a.errors),
        "p95_ms": round(p, 3) if p is not None else None,
        "scores": {k: mean(v) for k, v in sorted(a.scores.items())},
        "judged": int(a.scores["judge"].size) if "judge" in a.scores else 0,
        "ratings": int(a.rating.size),
        "rating": mean(a.rating),
        "outcomes": int(a.bad_outcome.size),
        "bad_outcome": mean(a.bad_outcome),
    }


@dataclass
class Look:
    verdict: StageVerdict
    results: list[MetricResult]
    figures: dict[str, Any]


def _control_window(s: Session, r: Rollout, interval: timedelta) -> tuple[datetime, datetime]:
    """Where a 100% step takes control's figures from (see the module doc)."""
    before = s.scalars(
        select(RolloutStep)
        .where(RolloutStep.rollout_id == r.id, RolloutStep.step_index == r.step_index - 1)
        .order_by(RolloutStep.id.desc())
    ).first()
    if before is not None and before.step_index != SHADOW and before.ended_at is not None:
        return as_utc(before.started_at), as_utc(before.ended_at)
    start = as_utc(r.started_at)
    return start - interval, start


def look_live(s: Session, r: Rollout, now: datetime) -> Look:
    cfg = settings_of(r)
    interval = parse_interval(cfg.interval)
    since = as_utc(r.step_started_at)
    arms = arm_samples(s, r.feature, since, now, cfg.bad_outcomes)
    control, reference = arms["control"], None
    share = percent_of(r) / 100
    if share >= 1:
        reference = _control_window(s, r, interval)
        control = arm_samples(s, r.feature, *reference, cfg.bad_outcomes)["control"]
    verdict, results = judge_step(
        control, arms["canary"], margins_of(r), alpha=cfg.alpha, stages=stages_of(r),
        share=share, min_requests=cfg.min_requests, min_samples=cfg.min_samples,
        time_up=now - since >= interval, tuning=cfg.sequential_tuning,
    )  # fmt: skip
    figures = {
        "stage": stage_name(r),
        "percent": percent_of(r),
        "since": since.isoformat(),
        "until": now.isoformat(),
        "control_window": [t.isoformat() for t in reference] if reference else None,
        "arms": {"control": arm_summary(control), "canary": arm_summary(arms["canary"])},
        "metrics": [m.as_dict() for m in results],
        "alpha_per_check": alpha_per_check(cfg.alpha, stages_of(r), len(margins_of(r))),
        "n_star": planned_n(cfg.min_requests, share, cfg.sequential_tuning),
        "verdict": {"action": verdict.action, "reason": verdict.reason},
    }
    return Look(verdict, results, figures)


def shadow_samples(s: Session, rollout_id: int, since: datetime, until: datetime) -> dict[str, Any]:
    """Paired differences (candidate - control) per metric, and the shadow's own figures. A
    candidate's refusal of what control served (`unsupported_parameter`: tools on a `local`
    candidate) is a candidate error like any other, also counted apart as `candidate_unsupported`."""
    query = select(ShadowPair).where(
        ShadowPair.rollout_id == rollout_id, ShadowPair.at >= since, ShadowPair.at < until
    )
    deltas: dict[str, list[float]] = {"error_rate": []}
    control_vals: dict[str, list[float]] = {}
    agree, lat_c, lat_t = [], [], []
    unsupported = 0
    for p in s.scalars(query):
        failed = p.status >= 400
        unsupported += p.error_code == Unsupported.code
        deltas["error_rate"].append(float(failed))
        lat_c.append(p.control_latency_ms)
        if failed:
            continue
        if p.latency_ms is not None:
            lat_t.append(p.latency_ms)
        if p.agree is not None:
            agree.append(float(p.agree))
        for k, v in (p.scores or {}).items():
            base = (p.control_scores or {}).get(k)
            if k in SCORES and isinstance(v, int | float) and isinstance(base, int | float):
                deltas.setdefault(k, []).append(float(v) - float(base))
                control_vals.setdefault(k, []).append(float(base))
    n = len(deltas["error_rate"])
    pc, pt = p95(np.asarray(lat_c)), p95(np.asarray(lat_t))
    return {
        "deltas": {k: np.asarray(v) for k, v in deltas.items()},
        "control_means": {"error_rate": 0.0, **{k: float(np.mean(v)) for k, v in control_vals.items()}},
        "summary": {
            "pairs": n,
            "candidate_errors": int(sum(deltas["error_rate"])),
            "candidate_unsupported": unsupported,
            "agreement": round(float(np.mean(agree)), 6) if agree else None,
            "control_p95_ms": round(pc, 3) if pc is not None else None,
            "candidate_p95_ms": round(pt, 3) if pt is not None else None,
        },
    }  # fmt: skip


def look_shadow(s: Session, r: Rollout, now: datetime) -> Look:
    cfg = settings_of(r)
    interval = parse_interval(cfg.shadow_interval or cfg.interval)
    since = as_utc(r.step_started_at)
    data = shadow_samples(s, r.id, since, now)
    margins = {k: v for k, v in margins_of(r).items() if k not in NOT_JUDGED_IN_SHADOW}
    alpha = alpha_per_check(cfg.alpha, stages_of(r), len(margins_of(r)))
    n_star = planned_n(cfg.min_requests, None, cfg.sequential_tuning)
    results = compare_pairs(
        data["deltas"], data["control_means"], margins,
        alpha=alpha, n_star=n_star, min_samples=cfg.min_samples,
    )  # fmt: skip
    pairs = data["summary"]["pairs"]
    verdict = stage_verdict(
        results, n_control=pairs, n_canary=pairs, min_requests=cfg.min_requests,
        time_up=now - since >= interval, shadow=True,
    )  # fmt: skip
    figures = {
        "stage": stage_name(r),
        "percent": 0.0,
        "since": since.isoformat(),
        "until": now.isoformat(),
        "shadow": data["summary"],
        "metrics": [m.as_dict() for m in results],
        "alpha_per_check": alpha,
        "n_star": n_star,
        "verdict": {"action": verdict.action, "reason": verdict.reason},
    }
    return Look(verdict, results, figures)


def look(s: Session, r: Rollout, now: datetime) -> Look:
    return look_shadow(s, r, now) if r.step_index == SHADOW else look_live(s, r, now)
