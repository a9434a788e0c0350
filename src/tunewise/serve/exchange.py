"""`Exchange`: what the gateway learns about one chat request as it serves it.

The router creates it, the gateway fills it in (feature, arm, upstream, tokens, faults), and when
the request ends (a stream: when its last chunk is sent or the client leaves) it goes to the
request log and the metrics. Raw text is held only until the log writer has scored and, for the
sampled share, scrubbed it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def new_request_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


@dataclass
class Exchange:
    request_id: str = field(default_factory=new_request_id)
    started: float = field(default_factory=time.monotonic)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    requested: str | None = None
    """The `model` the client sent."""
    feature: str | None = None
    arm: str | None = None
    """`control`, `canary`, or `direct` for a model named directly."""
    model: str | None = None
    """The model that answered (after any fallback)."""
    upstream: str | None = None
    user: str | None = None
    stream: bool = False
    status: int = 200
    error_code: str | None = None
    fallback: bool = False
    """The canary faulted (or refused: `unsupported_parameter`) and control answered."""
    canary_error: str | None = None
    broken_stream: bool = False
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    first_token_s: float | None = None
    finished_s: float | None = None
    messages: list[dict[str, Any]] | None = None
    answer: str | None = None
    request: Any = None
    """The parsed request (for shadow traffic, which replays it to a candidate)."""

    def finish(self) -> None:
        if self.finished_s is None:
            self.finished_s = time.monotonic() - self.started

    @property
    def latency_ms(self) -> float:
        return 1000.0 * (
            self.finished_s if self.finished_s is not None else time.monotonic() - self.started
        )
