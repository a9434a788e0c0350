"""Configuration of evaluation and the release gate (the `eval:` and `gate:` sections of tunewise.yaml)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class ScorerSpec(_Section):
    """One scorer and its parameters."""

    name: str
    """Registered scorer name (exact_match, json_valid, json_schema, json_fields, regex, length_ratio, overlap, rouge_l, contains, refusal, hallucination, grounding, judge)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the scorer (e.g. pattern for regex, schema for json_schema, rubric for judge)."""


def _default_scorers() -> list[ScorerSpec]:
    names = [
        "exact_match",
        "json_valid",
        "json_fields",
        "overlap",
        "length_ratio",
        "refusal",
        "hallucination",
        "grounding",
    ]
    return [ScorerSpec(name=n) for n in names]


class EvalConfig(_Section):
    """How variants are run and scored on the golden set."""

    golden: str | None = None
    """Golden set JSONL (default: the dataset version's golden.jsonl)."""
    primary_metric: str = "exact_match"
    """Scorer whose mean decides the gate's lift rule."""
    scorers: list[ScorerSpec] = Field(default_factory=_default_scorers)
    """Scorers applied to every case."""
    max_new_tokens: int = Field(default=64, gt=0)
    """Fixed generation budget per answer (greedy, temperature 0)."""
    batch_size: int = Field(default=16, gt=0)
    """Prompts per batch for local models."""
    concurrency: int = Field(default=8, gt=0)
    """Parallel requests for remote models."""
    cache: bool = True
    """Reuse cached generations keyed by (model identity, prompt, settings)."""
    seed: int = 0
    """Seed of the bootstrap resampling."""
    label_field: str | None = "intent"
    """JSON field of the answer used as the class label for the confusion matrix (None: no matrix)."""
    forgetting_suite: str | None = "builtin"
    """General-capability suite run on both sides ('builtin', a JSONL path, or None to skip)."""
    forgetting_max_new_tokens: int = Field(default=48, gt=0)
    """Generation budget of the suite's answers (its own, so a feature's short budget does not cut them off)."""
    bootstrap_samples: int = Field(default=10000, ge=100)
    """Resamples for the paired bootstrap confidence interval."""


class GateConfig(_Section):
    """The release gate: when a candidate may replace the base."""

    min_lift: float = Field(default=0.03, ge=0, le=1)
    """Required absolute lift of the primary metric (0.03 = 3 points), with the CI lower bound above 0."""
    non_inferiority_margin: float | None = Field(default=None, ge=0, le=1)
    """If set, also accept when the CI lower bound of the difference is above -margin (not worse by more)."""
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    """Confidence level of the bootstrap interval."""
    max_bucket_drop: float = Field(default=0.05, ge=0, le=1)
    """Block when any bucket's primary metric drops by more than this."""
    min_bucket_size: int = Field(default=1, ge=1)
    """Buckets smaller than this are reported but not gated."""
    safety_tags: list[str] = Field(default_factory=lambda: ["safety"])
    """Tags (or tag prefixes ending in ':') of zero-tolerance buckets: any case that scores lower blocks."""
    safety_metrics: list[str] = Field(default_factory=lambda: ["primary", "refusal"])
    """Metrics checked on safety cases ('primary' is the primary metric)."""
    max_p95_latency_increase: float = Field(default=0.25, ge=0)
    """Block when p95 latency is this much worse (0.25 = 25%) without an accuracy gain."""
    json_valid_tolerance: float = Field(default=0.0, ge=0, le=1)
    """Block when the candidate's JSON-valid rate is below the base's by more than this."""
    alternative_margin: float | None = Field(default=0.0, ge=0, le=1)
    """The candidate must beat the best non-fine-tuned alternative (prompts, the embedding classifier; the base has primary_lift) on the primary metric with the CI lower bound above this; null turns the rule off."""
    max_forgetting_drop: float = Field(default=0.05, ge=0, le=1)
    """General-suite drop that matters: a significant drop (CI below 0) larger than this fires the forgetting check; a CI reaching below -this warns."""
    forgetting_action: Literal["block", "warn"] = "block"
    """What a fired forgetting check does."""
