"""Variants: what is evaluated. A model (local base, base + adapter, OpenAI-compatible endpoint,
Bedrock) plus a prompt strategy (zero-shot, or few-shot with k examples from the train set).

On the command line a variant is `KIND:MODEL[,key=value...]`, for example
`local:smollm2-135m,adapter=runs/a1/adapter`, `openai:gpt-4o-mini,base_url=http://localhost:8000/v1`,
`bedrock:amazon.nova-lite-v1:0,region=us-east-1`, `classifier:runs/x/baseline/classifier`, or the path of a YAML/JSON file with the fields below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tunewise.errors import ConfigError


class PromptStrategy(BaseModel):
    """How each golden prompt is presented to the model."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    few_shot: int = Field(default=0, ge=0, le=32)
    """Number of train examples prepended as user/assistant turns (0 = zero-shot)."""
    train: str | None = None
    """Train JSONL (a dataset version's train.jsonl) the examples come from."""
    selection: Literal["nearest", "random"] = "nearest"
    """nearest: most similar by embedding (lexical when no embedder is installed); random: seeded sample."""
    seed: int = 0
    """Seed for random selection."""


class Variant(BaseModel):
    """One side of a comparison."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    kind: Literal["local", "openai", "bedrock", "classifier"] = "local"
    """Backend: local (transformers), openai (any OpenAI-compatible endpoint), bedrock (converse), classifier (an embedding classifier folder)."""
    model: str = "smollm2-135m"
    """Local base name or folder, the endpoint's model name, the Bedrock model id, or the classifier folder."""
    adapter: str | None = None
    """PEFT adapter folder applied on the local base."""
    base_url: str | None = None
    """OpenAI-compatible base URL (e.g. http://localhost:8000/v1); default is OpenAI's."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key for openai endpoints."""
    region: str | None = None
    """AWS region for bedrock."""
    price_input: float | None = None
    """Dollars per 1M input tokens (overrides the bundled price table; local models cost 0)."""
    price_output: float | None = None
    """Dollars per 1M output tokens (overrides the bundled price table)."""
    name: str | None = None
    """Label in reports (default: derived from the model and adapter)."""
    prompt: PromptStrategy = Field(default_factory=PromptStrategy)

    def label(self) -> str:
        """Short human label for tables."""
        if self.name:
            return self.name
        base = f"{self.kind}:{self.model}"
        return f"{base}+{Path(self.adapter).name}" if self.adapter else base


_TOP = {
    "kind",
    "model",
    "adapter",
    "base_url",
    "api_key_env",
    "region",
    "price_input",
    "price_output",
    "name",
}
_KINDS = {"local", "openai", "bedrock", "classifier"}
_PROMPT = {"few_shot": "few_shot", "train": "train", "selection": "selection", "seed": "seed"}


def parse_variant(spec: str) -> Variant:
    """A Variant from `KIND:MODEL[,key=value...]` or from a YAML/JSON file path."""
    path = Path(spec)
    if path.suffix in {".yaml", ".yml", ".json"} and path.is_file():
        raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return _validate(raw, str(path))
    head, *pairs = spec.split(",")
    kind, sep, model = head.partition(":")
    if not sep or kind not in _KINDS or not model:
        if sep and kind not in _KINDS:
            raise ConfigError(
                f"variant '{spec}': unknown kind '{kind}'; use local:, openai:, bedrock: or classifier:"
            )
        kind, model = "local", head  # a bare model name or folder means a local base
        from .classifier import is_classifier

        if is_classifier(model):
            kind = "classifier"
    raw = {"kind": kind, "model": model, "prompt": {}}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or (key not in _TOP and key not in _PROMPT):
            known = ", ".join(sorted(_TOP | set(_PROMPT)))
            raise ConfigError(
                f"variant '{spec}': bad option '{pair}'; use key=value with key among {known}"
            )
        (raw["prompt"] if key in _PROMPT else raw)[key] = value.strip()
    return _validate(raw, spec)


def _validate(raw: dict[str, Any], where: str) -> Variant:
    try:
        return Variant.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"variant {where}: {problems}") from exc
