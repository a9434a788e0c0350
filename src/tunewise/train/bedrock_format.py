"""A dataset folder in a Bedrock base family's format, and the train config as its hyperparameters.

Formats (Bedrock user guide, "Prepare your training datasets"):
- `converse` (Nova, Llama 3.2): `{"schemaVersion": "bedrock-conversation-2024", "system": [{"text"}],
  "messages": [{"role", "content": [{"text"}]}, ...]}`;
- `alternating` (Claude 3 Haiku): `{"system": "...", "messages": [{"role", "content": "..."}, ...]}`;
- `prompt_completion` (Llama 3.1, Titan): `{"prompt", "completion"}`, the system text leading the prompt.
Rows are checked with the data stage's rules for `bedrock:<family>` (the same ones `tunewise data
check --target` applies), so an error names the file, line and field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.errors import ConfigError, DataError
from tunewise.train.config import TrainConfig

SCHEMA_VERSION = "bedrock-conversation-2024"


@dataclass(frozen=True)
class Hyper:
    """One Bedrock hyperparameter: its API name, type and documented range (None: not checked)."""

    name: str
    kind: type
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Family:
    """A Bedrock base model family: record format, hyperparameters, and which train fields map."""

    name: str
    label: str
    format: str
    hyper: tuple[Hyper, ...]
    maps: dict[str, str] = field(default_factory=dict)  # TrainConfig field -> Bedrock name

    def spec(self, name: str) -> Hyper | None:
        return next((h for h in self.hyper if h.name == name), None)


# Ranges from the Bedrock user guide's "Custom model hyperparameters" pages (2025); Titan's differ
# between its variants and are left to Bedrock to check.
_LLAMA = (Hyper("epochCount", int, 1, 10), Hyper("batchSize", int, 1, 1))
_LLAMA_MAP = {"epochs": "epochCount", "batch_size": "batchSize", "learning_rate": "learningRate"}
FAMILIES: dict[str, Family] = {
    "nova": Family(
        "nova",
        "Amazon Nova",
        "converse",
        (
            Hyper("epochCount", int, 1, 5),
            Hyper("learningRate", float, 1e-6, 1e-4),
            Hyper("learningRateWarmupSteps", int, 0, 100),
        ),
        {"epochs": "epochCount", "learning_rate": "learningRate"},
    ),
    "llama3.2": Family(
        "llama3.2",
        "Meta Llama 3.2",
        "converse",
        (*_LLAMA, Hyper("learningRate", float, 5e-6, 0.1)),
        _LLAMA_MAP,
    ),
    "claude-3-haiku": Family(
        "claude-3-haiku",
        "Claude 3 Haiku",
        "alternating",
        (
            Hyper("epochCount", int, 1, 10),
            Hyper("batchSize", int, 4, 256),
            Hyper("learningRateMultiplier", float, 0.1, 2),
            Hyper("earlyStoppingThreshold", float, 0, 0.1),
            Hyper("earlyStoppingPatience", int, 1, 10),
        ),
        {
            "epochs": "epochCount",
            "batch_size": "batchSize",
            "early_stopping_patience": "earlyStoppingPatience",
        },
    ),
    "llama3.1": Family(
        "llama3.1",
        "Meta Llama 3.1",
        "prompt_completion",
        (*_LLAMA, Hyper("learningRate", float, 5e-6, 0.1)),
        _LLAMA_MAP,
    ),
    "titan": Family(
        "titan",
        "Amazon Titan Text",
        "prompt_completion",
        (
            Hyper("epochCount", int),
            Hyper("batchSize", int),
            Hyper("learningRate", float),
            Hyper("learningRateWarmupSteps", int),
        ),
        _LLAMA_MAP,
    ),
}
_ID_PREFIXES = (
    ("amazon.nova", "nova"),
    ("meta.llama3-2", "llama3.2"),
    ("anthropic.claude-3-haiku", "claude-3-haiku"),
    ("meta.llama3-1", "llama3.1"),
    ("amazon.titan-text", "titan"),
)
# Fields with no Bedrock meaning that are never worth a warning.
_NEUTRAL = {"base", "backend", "bedrock", "method", "tracking", "tracking_project"}
# Train fields whose Bedrock counterpart takes a different unit: named in the warning, not converted.
_HINTS = {
    "learning_rate": "learningRateMultiplier",
    "warmup_ratio": "learningRateWarmupSteps",
}


def family_for(model_id: str, override: str | None = None) -> Family:
    """The family of a Bedrock model id (or foundation-model ARN); ConfigError if unknown."""
    if override:
        return FAMILIES[override]
    bare = model_id.rsplit("/", 1)[-1]
    for prefix, name in _ID_PREFIXES:
        if bare.startswith(prefix):
            return FAMILIES[name]
    known = ", ".join(p + "..." for p, _ in _ID_PREFIXES)
    raise ConfigError(
        f"train.bedrock.base_model: '{model_id}' is not a Bedrock base model tunewise can prepare "
        f"data for (known: {known}); pass --base amazon.nova-micro-v1:0:128k (or train.bedrock.base_model), or set "
        "train.bedrock.family"
    )


# ---------------------------------------------------------------- data


def convert_file(src: Path, dst: Path, family: Family, *, max_listed: int = 5) -> int:
    """Convert a dataset-folder JSONL file; DataError listing the rows that cannot be converted."""
    out, bad = [], []
    for lineno, row in _rows(src):
        problems = row_problems(row, family)
        if problems:
            bad.append(f"{src} line {lineno}: " + "; ".join(problems))
        else:
            out.append(json.dumps(convert_row(row, family), ensure_ascii=False))
    if bad:
        more = f"\n  ... and {len(bad) - max_listed} more rows" if len(bad) > max_listed else ""
        raise DataError(
            f"{len(bad)} row(s) cannot be trained on {family.label} ({family.format} format):\n  "
            + "\n  ".join(bad[:max_listed])
            + more
            + f"\nFix them, or check a file with: tunewise data check FILE --target bedrock:{family.name}"
        )
    if not out:
        raise DataError(f"{src}: empty; nothing to train on")
    dst.write_text("".join(line + "\n" for line in out), encoding="utf-8")
    return len(out)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of a JSONL file, blank lines skipped."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{path} line {lineno}: not valid JSON ({exc})") from exc
            if not isinstance(row, dict):
                raise DataError(f"{path} line {lineno}: expected a JSON object")
            yield lineno, row


def row_problems(row: dict[str, Any], family: Family) -> list[str]:
    """Every reason `row` cannot be converted, each naming its field (the data stage's rules)."""
    from tunewise.data.schema import Row, Source
    from tunewise.data.targets import parse_target, validate_row

    dpo = "preferred_output" in row or "preferred_completion" in row
    msgs = (row.get("input") or {}).get("messages") if dpo else row.get("messages")
    if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
        return ["messages: expected a list of message objects"]
    parsed = Row(
        messages=[_unweighted(m) for m in msgs],
        source=Source("", 0),
        kind="dpo" if dpo else "sft",
        tools=row.get("tools"),
        preferred_output=row.get("preferred_output") or row.get("preferred_completion"),
        non_preferred_output=row.get("non_preferred_output") or row.get("non_preferred_completion"),
    )
    return validate_row(parsed, parse_target(f"bedrock:{family.name}"))


def _unweighted(message: dict[str, Any]) -> dict[str, Any]:
    # weight 1 is what Bedrock does anyway; weight 0 stays so the rules can refuse it.
    if message.get("weight") == 1:
        return {k: v for k, v in message.items() if k != "weight"}
    return message


def convert_row(row: dict[str, Any], family: Family) -> dict[str, Any]:
    """One valid chat row in the family's record format."""
    from tunewise.data.schema import text_of

    msgs = row["messages"]
    system = "\n\n".join(text_of(m.get("content")) for m in msgs if m.get("role") == "system")
    turns = [(m["role"], text_of(m.get("content"))) for m in msgs if m.get("role") != "system"]
    if family.format == "prompt_completion":
        (_, prompt), (_, completion) = turns
        return {"prompt": f"{system}\n\n{prompt}" if system else prompt, "completion": completion}
    if family.format == "alternating":
        out: dict[str, Any] = {"system": system} if system else {}
        return {**out, "messages": [{"role": r, "content": t} for r, t in turns]}
    return {
        "schemaVersion": SCHEMA_VERSION,
        **({"system": [{"text": system}]} if system else {}),
        "messages": [{"role": r, "content": [{"text": t}]} for r, t in turns],
    }


# ---------------------------------------------------------------- hyperparameters


def hyperparameters(cfg: TrainConfig, family: Family) -> tuple[dict[str, str], list[str]]:
    """Bedrock hyperparameters for `cfg`, and the train fields Bedrock has no use for.

    Only values that differ from tunewise's defaults are mapped (those defaults suit local LoRA on a
    small model, not Bedrock's models); everything else keeps Bedrock's own default.
    `train.bedrock.hyperparameters` wins. Every out-of-range or unknown value is reported at once.
    """
    if cfg.method == "dpo":
        raise ConfigError(
            "train.method: dpo is not available on Bedrock model customization; use lora"
        )
    chosen: dict[str, tuple[Any, str]] = {}
    ignored = []
    for name, value in _changed(cfg):
        target = family.maps.get(name)
        if target and value is not None:
            chosen[target] = (value, f"train.{name}")
        elif name not in _NEUTRAL:
            hint = _HINTS.get(name)
            use = (
                f" (Bedrock: train.bedrock.hyperparameters.{hint})"
                if hint and family.spec(hint)
                else ""
            )
            ignored.append(name + use)
    for name, value in cfg.bedrock.hyperparameters.items():
        chosen[name] = (value, f"train.bedrock.hyperparameters.{name}")
    problems = [p for name, (v, src) in chosen.items() if (p := _check(family, name, v, src))]
    if problems:
        raise ConfigError(
            f"{family.label} on Bedrock does not accept these hyperparameters:\n  "
            + "\n  ".join(problems)
        )
    return {name: _fmt(v) for name, (v, _) in chosen.items()}, ignored


def _changed(cfg: TrainConfig) -> list[tuple[str, Any]]:
    defaults = TrainConfig().model_dump()
    flat = cfg.model_dump()
    out = []
    for name, value in flat.items():
        if isinstance(value, dict) and name != "bedrock":
            out += [(f"{name}.{k}", v) for k, v in value.items() if v != defaults[name].get(k)]
        elif value != defaults[name]:
            out.append((name, value))
    return out


def _check(family: Family, name: str, value: Any, source: str) -> str | None:
    spec = family.spec(name)
    if spec is None:
        names = ", ".join(h.name for h in family.hyper)
        return f"{source}: {family.label} has no hyperparameter '{name}'; it takes {names}"
    try:
        number = spec.kind(float(value)) if spec.kind is int else float(value)
    except (TypeError, ValueError):
        return f"{source} ({name}): {value!r} is not a number"
    if spec.kind is int and float(value) != number:
        return f"{source} ({name}): {value!r} must be a whole number"
    if (spec.low is not None and number < spec.low) or (
        spec.high is not None and number > spec.high
    ):
        return (
            f"{source} ({name}): {value} is outside {family.label}'s range "
            f"{_fmt(spec.low)}..{_fmt(spec.high)}; set it within, or remove it for Bedrock's default"
        )
    return None


def _fmt(value: Any) -> str:
    """Bedrock takes hyperparameters as strings; floats without an exponent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.12f}".rstrip("0").rstrip(".")
