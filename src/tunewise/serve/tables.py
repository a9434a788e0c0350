"""The gateway's tables in the one database: feature flags (with their history), API keys and
the request log. Times are UTC; the request log stores no user id (a hash) and no raw text
(prompt and answer only for the sampled share, PII-scrubbed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tunewise.store.base import Base, utcnow

# SQLite autoincrements only an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit id.
_ID = BigInteger().with_variant(Integer(), "sqlite")


class ServeFlag(Base):
    """A feature's canary share (basis points of users, 0..10000) and kill switch."""

    __tablename__ = "serve_flags"
    feature: Mapped[str] = mapped_column(String(128), primary_key=True)
    canary_bp: Mapped[int] = mapped_column(Integer, default=0)
    killed: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128))


class ServeFlagEvent(Base):
    """One change of a flag: who set what, when and why."""

    __tablename__ = "serve_flag_events"
    __table_args__ = (Index("ix_serve_flag_events_feature_id", "feature", "id"),)
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    feature: Mapped[str] = mapped_column(String(128))
    canary_bp: Mapped[int] = mapped_column(Integer)
    killed: Mapped[bool] = mapped_column(Boolean)
    by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """A client key, stored as its sha256; `prefix` is what listings show."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RequestLogRow(Base):
    """One chat request as the gateway served it (monitoring and retraining read these)."""

    __tablename__ = "request_log"
    __table_args__ = (
        Index("ix_request_log_feature_at", "feature", "at"),
        Index("ix_request_log_at", "at"),
        Index("ix_request_log_request_id", "request_id"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    request_id: Mapped[str] = mapped_column(String(64))
    server: Mapped[str] = mapped_column(String(128))
    requested: Mapped[str | None] = mapped_column(String(256))
    feature: Mapped[str | None] = mapped_column(String(128))
    arm: Mapped[str | None] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(256))
    upstream: Mapped[str | None] = mapped_column(String(64))
    user_hash: Mapped[str | None] = mapped_column(String(32))
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64))
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    canary_error: Mapped[str | None] = mapped_column(String(64))
    retries: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    prompt: Mapped[str | None] = mapped_column(Text)
    """The messages as JSON, PII-scrubbed; only for the sampled share."""
    answer: Mapped[str | None] = mapped_column(Text)
    """The answer text, PII-scrubbed; only for the sampled share."""
