"""Configuration of the data stage (the `data:` section of tunewise.yaml)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Provenance = Literal["human", "synthetic", "production"]

DEFAULT_REFUSAL_MARKERS = [
    "as an ai language model",
    "i'm sorry, but i can't",
    "i am sorry, but i cannot",
    "i cannot help with that",
    "i can't assist with that",
    "i'm unable to help",
]
DEFAULT_HALLUCINATION_MARKERS = [
    "as of my last update",
    "as of my knowledge cutoff",
    "i don't have access to real-time",
    "i do not have access to real-time",
    "i believe the answer is",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class InputConfig(_Section):
    """How tabular inputs (CSV, or JSONL with input/output columns) become chat rows."""

    input_column: str = "input"
    """Column holding the user text."""
    output_column: str = "output"
    """Column holding the assistant answer."""
    system_prompt: str | None = None
    """System prompt prepended to rows built from columns (and to chat rows that lack one, if set)."""
    tag_columns: list[str] = Field(default_factory=list)
    """Columns copied into each row's tags (e.g. intent, locale) for stratification and buckets."""
    provenance_column: str = "provenance"
    """Column (or top-level JSONL key) holding human / synthetic / production."""
    use_hf_datasets_above_mb: float = 256.0
    """Inputs larger than this are streamed (JSONL/CSV line by line; Parquet always goes through `datasets`)."""
    max_line_kb: int = Field(1024, gt=0)
    """Lines longer than this (in KiB) are rejected unread, so one huge line cannot exhaust memory."""


class QualityConfig(_Section):
    """Quality rules. Each failing rule rejects the row with a reason."""

    min_response_chars: int = Field(1, ge=0)
    """Shortest acceptable assistant answer, in characters."""
    max_response_chars: int = Field(8000, gt=0)
    """Longest acceptable assistant answer, in characters."""
    refusal_markers: list[str] = Field(default_factory=lambda: list(DEFAULT_REFUSAL_MARKERS))
    """Phrases that mark a refusal in an assistant answer (case-insensitive)."""
    hallucination_markers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_HALLUCINATION_MARKERS)
    )
    """Phrases that mark a hedged or invented answer (case-insensitive)."""
    output_regex: str | None = None
    """If set, every assistant answer must fully match this regular expression."""
    output_json_schema: dict[str, Any] | str | None = None
    """If set, every assistant answer must be JSON valid against this schema (inline or a file path)."""
    require_system_prompt: bool = False
    """Reject rows without a system message."""
    conflicting_labels: bool = True
    """Reject rows whose (normalized) input also appears with a different answer."""
    grounding: bool = True
    """Flag identifiers, numbers, names and dates in the answer that appear nowhere in the prompt."""
    grounding_allow: list[str] = Field(default_factory=list)
    """Tokens that never count as ungrounded (e.g. field names or enum values of your output schema)."""

    @model_validator(mode="after")
    def _bounds(self) -> QualityConfig:
        if self.max_response_chars < self.min_response_chars:
            raise ValueError("max_response_chars must be >= min_response_chars")
        return self


class DedupConfig(_Section):
    exact: bool = True
    """Drop rows whose normalized text hashes equal an earlier row's."""
    near: bool = True
    """Drop near-duplicates found with MinHash LSH."""
    threshold: float = Field(0.85, gt=0, le=1)
    """Estimated Jaccard similarity above which two rows are near-duplicates."""
    num_perm: int = Field(64, ge=16, le=512)
    """MinHash permutations: more is more accurate and slower."""
    shingle_size: int = Field(3, ge=1, le=10)
    """Word n-gram size used for shingles."""


class PIIConfig(_Section):
    mode: Literal["report", "redact", "fail", "off"] = "redact"
    """report: count only; redact: replace with consistent placeholders; fail: stop if any is found."""
    engine: Literal["auto", "presidio", "regex"] = "auto"
    """auto uses Presidio when installed (finds names too) and the built-in regex engine otherwise."""
    entities: list[str] = Field(
        default_factory=lambda: [
            "EMAIL_ADDRESS",
            "PHONE_NUMBER",
            "CREDIT_CARD",
            "IP_ADDRESS",
            "IBAN_CODE",
            "US_SSN",
            "PERSON",
        ]
    )
    """Entity types to detect."""
    allow: list[str] = Field(default_factory=list)
    """Terms never treated as PII (product or brand names an NER model mistakes for people)."""


class SplitConfig(_Section):
    validation: float = Field(0.1, ge=0, lt=1)
    """Share of kept rows for validation."""
    golden: float = Field(0.1, ge=0, lt=1)
    """Share of kept rows for the golden set (0 when you bring your own with golden_file)."""
    golden_file: str | None = None
    """An existing golden set; its rows (and near-duplicates of them) are kept out of train."""
    stratify_by: str | None = None
    """Tag name, or `json:<field>` of the assistant JSON answer, to stratify on (e.g. json:intent)."""
    seed: int = 0

    @model_validator(mode="after")
    def _shares(self) -> SplitConfig:
        if self.validation + self.golden >= 1:
            raise ValueError("validation + golden must be < 1")
        return self


class ProvenanceConfig(_Section):
    default: Provenance = "human"
    """Provenance of rows that do not carry one."""
    max_synthetic_share: float = Field(0.3, ge=0, le=1)
    """Fail when synthetic rows exceed this share of the kept rows."""


class AugmentConfig(_Section):
    enabled: bool = False
    """Entity swap augmentation; explicit opt-in."""
    field: str = "order_id"
    """JSON field of the assistant answer whose value is swapped in the user text and the answer together."""
    copies: int = Field(1, ge=1, le=10)
    """Augmented copies per eligible row."""
    seed: int = 0


class DataConfig(_Section):
    """The data stage: what to load, how to check it and how to split it."""

    inputs: list[str] = Field(default_factory=list)
    """Input files (JSONL, CSV), relative to the config file."""
    target: str = "openai:gpt-4o-mini-2024-07-18"
    """Where the data will train: openai:<model>, bedrock:<family>, local:<model>."""
    min_examples: int | None = Field(None, ge=1)
    """Minimum kept examples; default is the target's rule (10 for OpenAI)."""
    max_tokens_per_example: int | None = Field(None, gt=0)
    """Per-example token limit; default is the target's limit."""
    epochs: int | Literal["auto"] = "auto"
    """Epochs used for the cost estimate ("auto" uses OpenAI's heuristic)."""
    version: str = "1.0.0"
    """Semantic version written to the manifest."""
    input: InputConfig = Field(default_factory=InputConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    pii: PIIConfig = Field(default_factory=PIIConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    provenance: ProvenanceConfig = Field(default_factory=ProvenanceConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        kind, _, name = v.partition(":")
        if kind not in {"openai", "bedrock", "local"} or not name:
            raise ValueError("must look like openai:<model>, bedrock:<family> or local:<model>")
        return v

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        parts = v.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError("must be a semantic version like 1.0.0")
        return v
