"""Quality rules: every way a single row can be unfit to train on, each with a reason.

`check_row` runs the per-row rules of a `QualityConfig` (answer length, refusal and hallucination
markers, output regex, output JSON Schema, system prompt, grounding) and returns every failing
rule's reason. `find_conflicts` is the one cross-row rule: the same input with different answers.

Rules are compiled once per config object (regexes, the JSON Schema validator) because they run
on every row of datasets with 100k+ rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise.data.config import QualityConfig
from tunewise.data.grounding import format_reason, ungrounded_entities
from tunewise.data.schema import Row, text_of
from tunewise.errors import ConfigError

_WS = re.compile(r"\s+")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})


@dataclass
class _Compiled:
    cfg: QualityConfig
    refusal: list[str]
    hallucination: list[str]
    regex: re.Pattern[str] | None
    validator: Any  # jsonschema validator or None


_CACHE: dict[int, _Compiled] = {}


def _load_schema(spec: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(spec, dict):
        return spec
    if spec.lstrip().startswith("{"):
        try:
            return dict(json.loads(spec))
        except ValueError as exc:
            raise ConfigError(f"data.quality.output_json_schema: not valid JSON ({exc})") from exc
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"data.quality.output_json_schema: no such file {spec!r}; give a path or an inline schema"
        )
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{spec}: not a JSON Schema file ({exc})") from exc


def compile_rules(cfg: QualityConfig) -> _Compiled:
    """Compile a config's regex and JSON Schema once; cached per config object (do not mutate it after)."""
    hit = _CACHE.get(id(cfg))
    if hit is not None and hit.cfg is cfg:
        return hit
    regex = None
    if cfg.output_regex:
        try:
            regex = re.compile(cfg.output_regex, re.S)
        except re.error as exc:
            raise ConfigError(
                f"data.quality.output_regex: invalid regular expression ({exc})"
            ) from exc
    validator = None
    if cfg.output_json_schema is not None:
        import jsonschema

        schema = _load_schema(cfg.output_json_schema)
        cls = jsonschema.validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ConfigError(
                f"data.quality.output_json_schema: invalid schema ({exc.message})"
            ) from exc
        validator = cls(schema)
    compiled = _Compiled(
        cfg=cfg,
        refusal=[m.lower().translate(_QUOTES) for m in cfg.refusal_markers],
        hallucination=[m.lower().translate(_QUOTES) for m in cfg.hallucination_markers],
        regex=regex,
        validator=validator,
    )
    if len(_CACHE) > 32:
        _CACHE.clear()
    _CACHE[id(cfg)] = compiled
    return compiled


def _json_path(path: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _short(value: str, n: int = 60) -> str:
    return value if len(value) <= n else value[: n - 1] + "…"


def _format_checks(answer: str, rules: _Compiled) -> list[str]:
    reasons: list[str] = []
    if rules.regex is not None and not rules.regex.fullmatch(answer.strip()):
        reasons.append("answer does not match output_regex")
    if rules.validator is not None:
        try:
            obj = json.loads(answer)
        except ValueError as exc:
            return [*reasons, f"answer is not valid JSON: {exc}"]
        errors = sorted(
            rules.validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))
        )
        for err in errors[:3]:
            reasons.append(
                f"answer JSON fails schema at {_json_path(err.absolute_path)}: {_short(err.message, 160)}"
            )
    return reasons


def _ends_with_tool_call(row: Row) -> bool:
    msgs = row.preferred_output if row.kind == "dpo" else row.messages
    last = next((m for m in reversed(msgs or []) if m.get("role") == "assistant"), None)
    return bool(last and last.get("tool_calls") and not text_of(last.get("content")))


def prompt_context(row: Row) -> str:
    """Everything the model sees before its answer: system, user, tool turns and tool-call arguments."""
    parts: list[str] = []
    for m in row.prompt_messages():
        parts.append(text_of(m.get("content")))
        for call in m.get("tool_calls") or []:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                parts.append(str(fn.get("arguments", "")))
    return "\n".join(parts)


def check_row(row: Row, cfg: QualityConfig) -> list[str]:
    """Every failing quality rule's reason for one row (empty list: the row passes).

    A final assistant turn that is a tool call (no text) skips the answer rules: its shape is the
    target validator's business.
    """
    rules = compile_rules(cfg)
    reasons: list[str] = []
    if cfg.require_system_prompt and not any(m.get("role") == "system" for m in row.messages):
        reasons.append("no system message")
    if _ends_with_tool_call(row):
        return reasons
    answer = row.answer()
    n = len(answer.strip())
    if n < cfg.min_response_chars:
        reasons.append(f"answer is {n} chars (min {cfg.min_response_chars})")
    elif n > cfg.max_response_chars:
        reasons.append(f"answer is {n} chars (max {cfg.max_response_chars})")
    if not n:
        return reasons
    low = answer.lower().translate(_QUOTES)
    reasons += [f"refusal marker {m!r} in answer" for m in rules.refusal if m in low]
    reasons += [f"hallucination marker {m!r} in answer" for m in rules.hallucination if m in low]
    reasons += _format_checks(answer, rules)
    if cfg.grounding:
        missing = ungrounded_entities(answer, prompt_context(row), cfg.grounding_allow)
        if missing:
            reasons.append(format_reason(missing))
    return reasons


def _norm_text(text: str) -> str:
    return _WS.sub(" ", text.translate(_QUOTES)).strip().lower()


def _norm_answer(answer: str) -> str:
    try:
        return json.dumps(json.loads(answer), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return _norm_text(answer)


def find_conflicts(rows: Sequence[Row]) -> dict[str, str]:
    """Rows whose input (system + user turns, normalized) also appears with a different answer.

    Every row of a conflicting group is rejected: the data cannot tell which label is right, and
    keeping the majority would silently bless a coin flip. Rows with the same input and the same
    answer are duplicates, not conflicts (deduplication handles them). Answers compare as canonical
    JSON when they parse, else as lowercased text with collapsed whitespace.
    Returns row id -> reason naming the other rows' lines and answers.
    """
    groups: dict[str, list[int]] = {}
    norm: dict[str, str] = {}  # system prompts repeat: normalize each distinct text once
    for i, row in enumerate(rows):
        parts = []
        for m in row.prompt_messages():
            if m.get("role") in ("system", "user"):
                text = text_of(m.get("content"))
                if text not in norm:
                    norm[text] = _norm_text(text)
                parts.append(f"{m.get('role')}:{norm[text]}")
        key = "\x00".join(parts)
        groups.setdefault(key, []).append(i)
    out: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        answers = {i: _norm_answer(rows[i].answer()) for i in members}
        if len(set(answers.values())) < 2:
            continue
        for i in members:
            others = [j for j in members if answers[j] != answers[i]]
            listed = "; ".join(
                f"{rows[j].source} answers {_short(rows[j].answer().strip(), 50)!r}"
                for j in others[:3]
            )
            more = f" (+{len(others) - 3} more)" if len(others) > 3 else ""
            out[rows[i].id] = (
                f"conflicting label: same input as {listed}{more}; fix the label or drop all but one"
            )
    return out
