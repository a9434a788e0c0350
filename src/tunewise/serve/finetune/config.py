"""Configuration of the fine-tuning API (the `serve.fine_tuning` section). Kept free of FastAPI."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class DataPolicy(BaseModel):
    """Data-stage gates the server applies to every uploaded training file before training."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    pii: Literal["off", "report", "redact", "fail"] = "off"
    """off: train on the file as sent (OpenAI's behaviour); report: count PII in the job's events;
    redact: replace it with consistent placeholders; fail: fail the job when any is found."""
    dedup: bool = False
    """Drop exact and near-duplicate examples (counted in the job's events and the rejects file)."""


class FineTuningConfig(BaseModel):
    """OpenAI's `/v1/files` and `/v1/fine_tuning/jobs` on this server; `tunewise worker` trains."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    enabled: bool = True
    """Serve the files and fine-tuning routes (they need a store: `--db` or TUNEWISE_DB_URL)."""
    dir: str | None = None
    """Folder for uploaded files, dataset versions and trained adapters; None: STATE_DIR/fine_tuning."""
    max_upload_mb: float = Field(512.0, gt=0)
    """Largest upload accepted, in MB (OpenAI's limit for fine-tuning files is 512 MB)."""
    bases: dict[str, str] = Field(default_factory=lambda: {"smollm2-135m": "smollm2-135m"})
    """Model names a job may ask for -> the local base model each trains (a bundled name, a
    folder or a hub id). Map OpenAI's names here to keep client code unchanged, e.g.
    `gpt-4o-mini-2024-07-18: smollm2-135m`."""
    organization: str = "tunewise"
    """Organization in job objects and `ft:` model names, unless the request sends OpenAI-Organization."""
    supervised_method: Literal["lora", "full"] = "lora"
    """What `method.type: supervised` trains locally."""
    train: dict[str, Any] = Field(default_factory=dict)
    """Training settings for every job (keys of the `train:` section, e.g. max_length, lora),
    below what a request's hyperparameters set."""
    min_examples: int = Field(10, ge=1)
    """Fewest examples a training file may have (OpenAI: 10)."""
    data: DataPolicy = Field(default_factory=DataPolicy)
    """Data-stage gates applied before training."""
    poll_s: float = Field(0.25, gt=0)
    """How often an idle worker looks for new jobs."""
    lease_s: float = Field(60.0, gt=0)
    """A worker that has not checked in for this long is presumed dead; its jobs are requeued and
    continue from their last checkpoint."""
