"""Production requests as the monitor reads them: one row shape, a reader protocol, a JSONL reader.

A row is what the gateway's request log holds (docs/PLAN.md), as a dict:

    {"time": "2026-05-01T12:00:00Z", "request_id": "...", "feature": "support-intent",
     "arm": "control", "model": "support-v1", "user": "9f2c...", "latency_ms": 84.1,
     "tokens_in": 120, "tokens_out": 14, "status": 200, "error_code": null,
     "scores": {"json_valid": 1.0},
     "prompt": [{"role": "user", "content": "..."}], "answer": "{\"intent\": \"refund\"}",
     "review": {"answer": "{\"intent\": \"billing\"}"}}

`prompt` (a string or the chat messages) and `answer` are present only for the sampled share;
`review` only once someone reviewed the row. `tokens` may also come as {"in", "out"}, `status` as
"ok"/"error", `time` as epoch seconds. Readers implement `RequestSource.iter_requests`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from tunewise.data.schema import text_of
from tunewise.errors import ConfigError, DataError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`7d`, `36h`, `90m`, `2w` -> timedelta; ConfigError otherwise."""
    m = _DURATION.match(str(text))
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"'{text}' is not a duration; use a number and m, h, d or w (e.g. 7d)")
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


def parse_time(value: Any) -> datetime:
    """An ISO 8601 string or epoch seconds -> an aware UTC datetime; ValueError otherwise."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        dt = datetime.fromtimestamp(float(value), UTC)
    elif isinstance(value, str):
        dt = datetime.fromisoformat(value.strip())
    else:
        raise ValueError(f"expected an ISO 8601 time or epoch seconds, got {type(value).__name__}")
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(slots=True)
class Request:
    """One logged request, normalized."""

    time: datetime
    feature: str
    arm: str = "control"
    model: str | None = None
    ok: bool = True
    latency_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    error_code: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    prompt: str | None = None
    """Text of the last user message (sampled rows only)."""
    answer: str | None = None
    """The model's answer (sampled rows only)."""
    review: dict[str, Any] | None = None
    request_id: str | None = None

    @property
    def day(self) -> str:
        return self.time.date().isoformat()


def _prompt_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        users = [m for m in value if isinstance(m, dict) and m.get("role") == "user"]
        return text_of(users[-1].get("content")) if users else None
    raise ValueError("must be a string or a list of chat messages")


def _ok(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        return value < 400
    if isinstance(value, str) and value.lower() in {"ok", "success", "error", "failed", "fail"}:
        return value.lower() in {"ok", "success"}
    raise ValueError("must be an HTTP status code or 'ok'/'error'")


def _tokens(row: dict[str, Any]) -> tuple[Any, Any]:
    tokens = row.get("tokens")
    if isinstance(tokens, dict):
        return tokens.get("in", tokens.get("prompt")), tokens.get("out", tokens.get("completion"))
    return row.get("tokens_in"), row.get("tokens_out")


def _field(row: dict[str, Any], name: str, convert: Any) -> Any:
    try:
        return convert(row.get(name))
    except (TypeError, ValueError) as exc:
        raise DataError(f"field '{name}': {exc}") from None


def _opt(kind: Any) -> Any:
    return lambda v: None if v is None else kind(v)


def _scores(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("must be an object of metric -> number")
    return {str(k): float(v) for k, v in value.items() if v is not None}


def request_from_dict(row: Any) -> Request:
    """Validate and normalize one row; DataError names the bad field."""
    if not isinstance(row, dict):
        raise DataError("not a JSON object")
    if "time" not in row or not row.get("feature"):
        raise DataError(f"field '{'time' if 'time' not in row else 'feature'}': required")
    tin, tout = _tokens(row)
    review = row.get("review")
    if review is not None and not isinstance(review, dict):
        raise DataError("field 'review': must be an object (e.g. {\"answer\": ...})")
    return Request(
        time=_field(row, "time", parse_time),
        feature=str(row["feature"]),
        arm=str(row.get("arm") or "control"),
        model=_field(row, "model", _opt(str)),
        ok=_field(row, "status", _ok),
        latency_ms=_field(row, "latency_ms", _opt(float)),
        tokens_in=_opt(int)(tin),
        tokens_out=_opt(int)(tout),
        error_code=_field(row, "error_code", _opt(str)),
        scores=_field(row, "scores", _scores),
        prompt=_field(row, "prompt" if "prompt" in row else "messages", _prompt_text),
        answer=_field(row, "answer", _opt(str)),
        review=review,
        request_id=_field(row, "request_id", _opt(str)),
    )


class RequestSource(Protocol):
    """Where logged requests come from (the JSONL reader here; the gateway's request log later)."""

    def iter_requests(
        self, feature: str, since: datetime, until: datetime | None = None
    ) -> Iterator[Request]:
        """Requests of `feature` with since <= time < until, in any order."""
        ...


class JsonlRequests:
    """Request rows from a JSONL file (one row per line, the shape in this module's docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such request-log file")

    def iter_requests(
        self, feature: str, since: datetime, until: datetime | None = None
    ) -> Iterator[Request]:
        with self.path.open(encoding="utf-8", errors="strict") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    req = request_from_dict(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{self.path} line {line_no}: not valid JSON ({exc})") from None
                except DataError as exc:
                    raise DataError(f"{self.path} line {line_no}: {exc}") from None
                if (
                    req.feature == feature
                    and req.time >= since
                    and (until is None or req.time < until)
                ):
                    yield req
