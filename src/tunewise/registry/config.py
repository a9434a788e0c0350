"""Configuration of the registry (the `registry:` section of tunewise.yaml).

Kept free of SQLAlchemy so that loading a config stays cheap.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RegistryConfig(BaseModel):
    """Where the model registry lives and what promotion is gated on."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    url: str | None = None
    """SQLAlchemy URL of the one tunewise database (registry, jobs and all other state; `postgresql+psycopg://...`); default SQLite at `.tunewise/tunewise.db`. TUNEWISE_DB_URL (or its older alias TUNEWISE_REGISTRY_URL) overrides it."""
    golden: str | None = None
    """Golden set file (golden.jsonl) whose content hash (as in eval reports) is the current golden set for promotion gates; default: the golden hash of the latest gate recorded for the feature."""
    stale_days: int = Field(90, gt=0)
    """A model not re-evaluated for this many days is flagged stale."""
