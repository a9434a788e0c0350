"""Online scores of an answer: the evaluate stage's reference-free checks, cheap enough to run
on every logged request (off the request path, in the log writer)."""

from __future__ import annotations

from typing import Any


def online_scores(answer: str) -> dict[str, Any]:
    """json_valid, refusal and hallucination markers (1 = present), and the answer's length."""
    from tunewise.data.config import DEFAULT_HALLUCINATION_MARKERS, DEFAULT_REFUSAL_MARKERS
    from tunewise.evaluate.scorers import parse_json

    try:
        parse_json(answer)
        json_ok = 1
    except ValueError:
        json_ok = 0
    low = " ".join(answer.lower().replace("’", "'").split())
    return {
        "json_valid": json_ok,
        "refusal": int(any(m.lower() in low for m in DEFAULT_REFUSAL_MARKERS)),
        "hallucination_marker": int(any(m.lower() in low for m in DEFAULT_HALLUCINATION_MARKERS)),
        "chars": len(answer),
    }
