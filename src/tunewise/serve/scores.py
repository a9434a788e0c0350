"""Online scores of an answer: the evaluate stage's reference-free checks, cheap enough to run
on every logged request (off the request path, in the log writer)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any


def online_scores(answer: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """json_valid, json_schema (with a schema: the answer is JSON that validates), refusal and
    hallucination markers (1 = present), and the answer's length."""
    from tunewise.data.config import DEFAULT_HALLUCINATION_MARKERS, DEFAULT_REFUSAL_MARKERS
    from tunewise.evaluate.scorers import parse_json

    extra: dict[str, Any] = {}
    try:
        value = parse_json(answer)
        json_ok = 1
    except ValueError:
        value, json_ok = None, 0
    if schema is not None:
        extra["json_schema"] = int(bool(json_ok) and _valid(value, schema))
    low = " ".join(answer.lower().replace("’", "'").split())
    return {
        **extra,
        "json_valid": json_ok,
        "refusal": int(any(m.lower() in low for m in DEFAULT_REFUSAL_MARKERS)),
        "hallucination_marker": int(any(m.lower() in low for m in DEFAULT_HALLUCINATION_MARKERS)),
        "chars": len(answer),
    }


def _valid(value: Any, schema: dict[str, Any]) -> bool:
    return _validator(json.dumps(schema, sort_keys=True)).is_valid(value)


@lru_cache(maxsize=8)
def _validator(schema_json: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(schema_json))
