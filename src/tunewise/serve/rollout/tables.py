"""The rollout controller's tables in the one database: rollouts, their steps and decisions, the
lease that lets one server act per feature, shadow comparisons, and user feedback.

Times are UTC. `Rollout.active_feature` equals `feature` while the rollout is live (shadow,
running or paused) and is NULL afterwards: its unique constraint allows one live rollout per
feature (NULLs never collide).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tunewise.store.base import Base, utcnow

_ID = BigInteger().with_variant(Integer(), "sqlite")

LIVE = ("shadow", "running", "paused")
"""States of a rollout that is not finished."""


class Rollout(Base):
    """One canary rollout of `model` on `feature` against the control it started with."""

    __tablename__ = "rollouts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feature: Mapped[str] = mapped_column(String(128), index=True)
    active_feature: Mapped[str | None] = mapped_column(String(128), unique=True)
    model: Mapped[str] = mapped_column(String(256))
    control_model: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16))
    """shadow | running | paused | promoted | rolled_back | aborted."""
    paused_from: Mapped[str | None] = mapped_column(String(16))
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    """-1 while in shadow, then the index in `steps`."""
    step_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    steps: Mapped[list[float]] = mapped_column(JSON)
    shadow_percent: Mapped[float] = mapped_column(Float, default=0.0)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The rollout config it runs under (interval, min_requests, alpha, margins, ...)."""
    checklist: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The checklist as it stood at start, with any forced items and the reason."""
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_by: Mapped[str] = mapped_column(String(128))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=0)
    """Bumped by every change, so a controller that lost its lease cannot overwrite one."""


class RolloutStep(Base):
    """One stage a rollout entered: shadow (index -1) or a live share."""

    __tablename__ = "rollout_steps"
    __table_args__ = (Index("ix_rollout_steps_rollout", "rollout_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id"))
    step_index: Mapped[int] = mapped_column(Integer)
    percent: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[str | None] = mapped_column(String(16))
    """passed | failed | aborted | promoted, when it ended."""


class RolloutDecision(Base):
    """Something the controller (or a person) decided, with the figures it decided on."""

    __tablename__ = "rollout_decisions"
    __table_args__ = (Index("ix_rollout_decisions_rollout", "rollout_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    step_index: Mapped[int] = mapped_column(Integer)
    percent: Mapped[float] = mapped_column(Float)
    action: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    figures: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    by: Mapped[str] = mapped_column(String(128))
    registry_event_id: Mapped[int | None] = mapped_column(Integer)


class RolloutLease(Base):
    """Which server may act on a feature's rollout, until when."""

    __tablename__ = "rollout_leases"
    feature: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ShadowPair(Base):
    """One mirrored request: control's answer (the user's) and the candidate's, scored alike."""

    __tablename__ = "rollout_shadow"
    __table_args__ = (Index("ix_rollout_shadow_rollout_at", "rollout_id", "at"),)
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    rollout_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    request_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(256))
    status: Mapped[int] = mapped_column(Integer)
    """The candidate's: 200, or the error status it would have returned."""
    error_code: Mapped[str | None] = mapped_column(String(64))
    agree: Mapped[bool | None] = mapped_column(Boolean)
    control_latency_ms: Mapped[float] = mapped_column(Float)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    control_scores: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Feedback(Base):
    """A user's rating or outcome for one answer, with the arm that served it."""

    __tablename__ = "feedback"
    __table_args__ = (
        Index("ix_feedback_feature_request_at", "feature", "request_at"),
        Index("ix_feedback_request_id", "request_id"),
    )
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    request_id: Mapped[str] = mapped_column(String(64))
    request_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    feature: Mapped[str | None] = mapped_column(String(128))
    arm: Mapped[str | None] = mapped_column(String(16))
    """The arm the user was assigned (a canary answer that fell back counts as canary)."""
    model: Mapped[str | None] = mapped_column(String(256))
    rating: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(128))
