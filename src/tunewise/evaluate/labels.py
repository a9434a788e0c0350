"""The feature's answer format, as far as a classifier can produce it.

A classifier can answer a feature whose answer is a label (plain text from a small set) or a JSON
object whose fields are labels: `eval.label_field`, or the enums of the output JSON schema. A field
with a schema `pattern` (an order id) is copied from the user's message when the pattern matches
there, if the training rows show that this is what the answers do. Anything else (free text) a
classifier cannot write, and `infer_format` says which field stops it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_LABELS = 200
"""More distinct answers than this is not a label set."""
MAX_LABEL_CHARS = 100
EXTRACT_AGREEMENT = 0.95
"""Share of training rows a copied field must reproduce exactly to be used."""

_SEPARATORS: tuple[tuple[str, str], ...] = ((", ", ": "), (",", ":"))


@dataclass
class AnswerFormat:
    """How answers look: a bare label, or JSON with label fields and copied fields."""

    kind: str
    """'text' (the answer is the label) or 'json'."""
    label_fields: list[str] = field(default_factory=list)
    """JSON fields predicted by a classifier head (one head each)."""
    extract: dict[str, str] = field(default_factory=dict)
    """JSON fields copied from the user message: field -> regular expression."""
    key_order: list[str] = field(default_factory=list)
    """Key order of the rendered JSON, as the training answers write it."""
    separators: list[str] = field(default_factory=lambda: list(_SEPARATORS[0]))
    """json.dumps separators that reproduce the training answers' spacing."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnswerFormat:
        return cls(**data)


class NotALabelTask(ValueError):
    """The answers are not labels a classifier can produce; the message says why."""


def _schema_props(schema: dict[str, Any] | None) -> dict[str, Any]:
    props = (schema or {}).get("properties")
    return props if isinstance(props, dict) else {}


def _objects(answers: list[str]) -> list[dict[str, Any]] | None:
    out = []
    for a in answers:
        try:
            value = json.loads(a)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        out.append(value)
    return out


def _key_order(objs: list[dict[str, Any]]) -> list[str]:
    order: list[str] = []
    for o in objs:
        for k in o:
            if k not in order:
                order.append(k)
    return order


def _extractor(pattern: str) -> str:
    """A schema pattern made searchable inside a longer text (anchors dropped)."""
    return pattern.removeprefix("^").removesuffix("$")


def extract_value(pattern: str, text: str) -> str | None:
    m = re.search(_extractor(pattern), text)
    return m.group(0) if m else None


def _copy_agreement(pattern: str, fld: str, objs: list[dict[str, Any]], users: list[str]) -> float:
    hits = sum(extract_value(pattern, u) == o.get(fld) for o, u in zip(objs, users, strict=True))
    return hits / max(1, len(objs))


def _text_format(answers: list[str]) -> AnswerFormat:
    labels = Counter(a.strip() for a in answers)
    if len(labels) < 2:
        raise NotALabelTask("every training answer is the same: nothing to classify")
    if len(labels) > MAX_LABELS or len(labels) * 2 > len(answers):
        raise NotALabelTask(
            f"{len(labels)} distinct answers in {len(answers)} rows: free text, not a label set"
        )
    long = next((a for a in labels if len(a) > MAX_LABEL_CHARS or "\n" in a), None)
    if long is not None:
        raise NotALabelTask(f"answer {long[:40]!r}... is free text, not a label")
    return AnswerFormat("text")


def infer_format(
    answers: list[str],
    users: list[str],
    *,
    label_field: str | None = None,
    schema: dict[str, Any] | None = None,
) -> AnswerFormat:
    """The answer format of a training set (its final assistant answers and last user messages).

    Raises NotALabelTask when a classifier cannot write these answers.
    """
    if not answers:
        raise NotALabelTask("no training answers")
    objs = _objects(answers)
    if objs is None:
        return _text_format(answers)
    props = _schema_props(schema)
    enums = [k for k, p in props.items() if isinstance(p, dict) and isinstance(p.get("enum"), list)]
    order = _key_order(objs)
    labels = [k for k in order if k == label_field or k in enums]
    if not labels:
        raise NotALabelTask(
            f"JSON answers without a label field: set eval.label_field (one of {order}) "
            "or give the output schema enums"
        )
    extract = {}
    for k in (k for k in order if k not in labels):
        pattern = props.get(k, {}).get("pattern") if isinstance(props.get(k), dict) else None
        if not pattern or _copy_agreement(pattern, k, objs, users) < EXTRACT_AGREEMENT:
            raise NotALabelTask(f"field '{k}' is not a label a classifier can predict")
        extract[k] = pattern

    def reproduced(sep: tuple[str, str]) -> int:
        return sum(_dump(o, sep) == a.strip() for o, a in zip(objs, answers, strict=True))

    best: tuple[str, str] = max(_SEPARATORS, key=reproduced)
    return AnswerFormat("json", labels, extract, order, list(best))


def _dump(obj: dict[str, Any], separators: tuple[str, str] | list[str]) -> str:
    item, key = separators
    return json.dumps(obj, ensure_ascii=False, separators=(item, key))


def answer_labels(fmt: AnswerFormat, answer: str) -> dict[str | None, Any]:
    """The classes of one training answer: {field: JSON value, None when missing}; text uses key None."""
    if fmt.kind == "text":
        return {None: answer.strip()}
    obj = json.loads(answer)
    return {f: obj.get(f) for f in fmt.label_fields}


def render(fmt: AnswerFormat, labels: dict[str | None, Any], user_text: str) -> str:
    """The answer text for predicted classes, in the feature's output format (None: field left out)."""
    if fmt.kind == "text":
        return str(labels[None])
    values: dict[str, Any] = {}
    for k in fmt.key_order:
        value = extract_value(fmt.extract[k], user_text) if k in fmt.extract else labels.get(k)
        if value is not None:
            values[k] = value
    return _dump(values, fmt.separators)
