"""Configuration of monitoring (the `monitor:` section of tunewise.yaml) and its triggers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class TriggerConfig(_Section):
    """When `tunewise monitor` fires (each check can be switched off with null)."""

    drift: bool = True
    """Fire when input drift is detected (domain-classifier ROC AUC over `monitor.drift_auc`, and over the bootstrap null for small training sets)."""
    outlier_share: float | None = Field(0.2, gt=0, le=1)
    """Fire when this share of production inputs lies farther from the training set than the training set's own 95th-percentile nearest-neighbour distance (about 0.05 without drift)."""
    label_psi: float | None = Field(0.25, gt=0)
    """Fire when the PSI of the answers' label mix against training reaches this (0.1 moderate, 0.25 major shift)."""
    quality_margin: float | None = Field(0.05, ge=0, le=1)
    """Fire when a live reference-free score (JSON-valid, schema, no refusal, no hallucination marker) is below the model's eval value by more than this."""
    max_age_days: int | None = Field(90, gt=0)
    """Fire when the model, its last evaluation or its training data is older than this many days."""
    reviewed_rows: int | None = Field(200, gt=0)
    """Fire when at least this many production requests in the window carry a review (enough for a retrain)."""
    webhook: str | None = None
    """URL that receives a POST with the fired triggers as JSON (e.g. a chat or CI hook)."""
    webhook_timeout_s: float = Field(10.0, gt=0)
    """Seconds to wait for the webhook to answer."""

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class RetrainConfig(_Section):
    """How `tunewise retrain FEATURE` builds, gates and ships the next generation."""

    min_reviewed: int = Field(20, ge=1)
    """Fewest reviewed production rows a retrain accepts."""
    max_production_share: float = Field(0.5, gt=0, le=1)
    """Provenance cap: most share of the next dataset version's rows that may come from production."""
    golden_slice: float = Field(0.2, ge=0, lt=1)
    """Share of the reviewed rows held out as a refreshed golden slice (evaluated for both models, never trained on)."""
    min_slice: int = Field(10, ge=1)
    """Fewest held-out rows for the refreshed slice to be evaluated."""
    non_inferiority_margin: float | None = Field(0.02, ge=0, le=1)
    """Against the production model the gate also accepts a candidate no worse than this on the golden set (the CI lower bound above -margin), unless gate.non_inferiority_margin is set; null: lift only."""
    warm_start: bool = True
    """Continue from the production model's adapter (train.init_adapter) rather than fresh LoRA
    weights: the next generation keeps more of what its parent answered right (fewer cases flip
    from right to wrong, which the gate's bucket and safety rules block on)."""
    warm_start_lr_scale: float = Field(0.2, gt=0, le=1)
    """A warm start trains at the first generation's learning rate times this (continued
    fine-tuning at the full rate undid its parent's answers on the support-intent loop: v2 lost
    two safety cases at 1e-3 and none at 2e-4, docs/monitor.md); a fresh start uses the full rate."""
    rollout: bool = True
    """Start a canary rollout (`tunewise rollout start`) when the gate accepts."""


class MonitorConfig(_Section):
    """How production traffic is compared with the serving model's training data."""

    window: str = "7d"
    """Default look-back window of `tunewise monitor` (`7d`, `36h`, `90m`)."""
    alias: str = "production"
    """Registry alias whose model is monitored (`FEATURE@alias`)."""
    embed_sample: int = Field(2000, ge=50)
    """Most production inputs embedded per run (a seeded uniform sample of the prompts, sized by `sample_tolerance`, at least 1,000)."""
    sample_tolerance: float = Field(0.1, ge=0, le=1)
    """How much larger the drift classifier's null standard error may be on the sample than on every prompt (0.1: 10%, about 4x the training rows); 0 embeds every prompt up to embed_sample. The report gives both errors."""
    reference_sample: int = Field(4000, ge=50)
    """Most training rows embedded (a seeded uniform sample); their embeddings are cached by dataset hash."""
    drift_auc: float = Field(0.55, gt=0.5, lt=1)
    """Domain-classifier ROC AUC above which inputs count as drifted (Evidently's default)."""
    bootstrap_below: int = Field(1000, ge=0)
    """Training sets smaller than this also need the AUC above the 95th percentile of random-score AUCs."""
    clusters: int = Field(8, ge=2, le=50)
    """KMeans clusters over training and production inputs, for 'which kinds of input grew'."""
    examples_per_cluster: int = Field(3, ge=0, le=20)
    """PII-scrubbed example inputs shown per grown cluster."""
    label_field: str | None = None
    """JSON field of the answer that is its label (default: eval.label_field); plain short answers are labels themselves."""
    seed: int = 0
    """Seed of the samples, the classifier folds and KMeans."""
    triggers: TriggerConfig = Field(default_factory=TriggerConfig)
    """When a run counts as fired (for `tunewise monitor --check`)."""
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    """The next generation: `tunewise retrain FEATURE`."""

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        from tunewise.errors import ConfigError
        from tunewise.monitor.requests import parse_duration

        try:
            parse_duration(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value
