"""Configuration of the gateway (the `serve:` section of tunewise.yaml). Kept free of FastAPI."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tunewise.serve.finetune.config import FineTuningConfig


class UpstreamConfig(BaseModel):
    """One model server. Fields beyond these belong to the kind (see its docs), e.g. `base` for
    `local`, `base_url` for `openai`, `region` for `bedrock`."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    kind: str
    """`local` (transformers + PEFT adapters), `openai` (any OpenAI-compatible server) or `bedrock`."""
    timeout_s: float = Field(60.0, gt=0)
    """Deadline for one request to this upstream, retries included."""
    max_tokens: int = Field(1024, gt=0)
    """Largest `max_tokens` a request may ask for (400 above it); also the default when omitted."""
    retries: int = Field(1, ge=0)
    """Extra attempts after a transient failure (5xx, connection error), within the retry budget."""


class ServeConfig(BaseModel):
    """The OpenAI-compatible gateway: where it listens, its upstreams, and its fault handling."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    host: str = "127.0.0.1"
    """Interface to bind; anything but loopback needs at least one API key (`tunewise keys create`)."""
    port: int = Field(8000, ge=0, le=65535)
    """TCP port."""
    upstreams: dict[str, UpstreamConfig] = Field(default_factory=dict)
    """Model servers by name; a request goes to the first (in this order) that serves its model."""
    retry_budget: float = Field(0.2, ge=0, le=1)
    """Retries allowed as a share of recent requests, so retries cannot multiply an overload."""
    breaker_failures: int = Field(5, gt=0)
    """Consecutive faults after which an upstream's circuit opens (requests skip it)."""
    breaker_cooldown_s: float = Field(30.0, gt=0)
    """How long an open circuit stays open before one trial request is let through."""
    flags_ttl_s: float = Field(1.0, ge=0)
    """How stale a server's view of flags and aliases may be (read from the store at most this often)."""
    log_sample: float = Field(0.1, ge=0, le=1)
    """Share of requests whose prompt and answer text is logged (PII-scrubbed); the rest log metadata only."""
    log_pii_engine: Literal["regex", "presidio", "auto"] = "regex"
    """Scrubber engine for logged text (the data stage's `data.pii` settings otherwise): regex is
    fast (about 0.3 ms a text) but finds no names; presidio finds names at about 50 ms a text on
    one core, which a busy server pays in CPU."""
    log_retention_days: int = Field(30, gt=0)
    """Request-log rows older than this are deleted."""
    log_flush_s: float = Field(1.0, gt=0)
    """How often the request log's buffer is written to the store."""
    log_queue: int = Field(10000, gt=0)
    """Buffered log rows before new ones are dropped (counted in /metrics), so logging never blocks."""
    fine_tuning: FineTuningConfig = Field(default_factory=FineTuningConfig)
    """OpenAI's files and fine-tuning jobs API on this server (trained by `tunewise worker`)."""
