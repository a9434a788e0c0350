"""Fault handling shared by all upstreams: circuit breakers and a retry budget.

There is one breaker per (upstream, model): an adapter that cannot load or keeps failing opens
its own circuit, not the one of the control model served by the same upstream; an upstream that
is down opens the circuit of each model it serves as they fail.

The breaker opens after `failures` consecutive faults and rejects requests for `cooldown_s`;
then one trial request is let through (half-open): success closes it, a fault opens it again.
The retry budget (as in Finagle and Envoy) allows retries up to a share of recent requests, so
that retries cannot turn an upstream's overload into a storm: each request deposits `ratio`
tokens (capped), each retry spends one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CircuitBreaker:
    failures: int = 5
    cooldown_s: float = 30.0
    _consecutive: int = 0
    _opened_at: float | None = None
    _trial_running: bool = False
    clock: object = field(default=time.monotonic, repr=False)

    def _now(self) -> float:
        return self.clock()  # type: ignore[operator, no-any-return]

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._now() - self._opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        """May a request go to this upstream now? (Claims the trial slot when half-open.)"""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def success(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._trial_running = False

    def failure(self) -> None:
        self._consecutive += 1
        if self._trial_running or self._consecutive >= self.failures:
            self._opened_at = self._now()
        self._trial_running = False

    def retry_after_s(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self._now() - self._opened_at))


@dataclass
class RetryBudget:
    ratio: float = 0.2
    cap: float = 10.0
    min_tokens: float = 3.0
    """Retries always allowed at low traffic (the bucket starts full to this level)."""
    _tokens: float = -1.0

    def __post_init__(self) -> None:
        self._tokens = max(self.min_tokens, 0.0)

    def deposit(self) -> None:
        """Called once per request."""
        self._tokens = min(self.cap, self._tokens + self.ratio)

    def withdraw(self) -> bool:
        """Spend one retry if the budget allows it."""
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Breakers:
    """The breakers of one server, created on first use, mirrored in a Prometheus gauge."""

    def __init__(self, failures: int, cooldown_s: float, gauge: Any = None) -> None:
        self.failures, self.cooldown_s, self.gauge = failures, cooldown_s, gauge
        self._by: dict[tuple[str, str], CircuitBreaker] = {}

    def get(self, upstream: str, model: str) -> CircuitBreaker:
        key = (upstream, model)
        if key not in self._by:
            self._by[key] = CircuitBreaker(self.failures, self.cooldown_s)
        return self._by[key]

    def success(self, upstream: str, model: str) -> None:
        self.get(upstream, model).success()
        self._show(upstream, model)

    def failure(self, upstream: str, model: str) -> None:
        self.get(upstream, model).failure()
        self._show(upstream, model)

    def _show(self, upstream: str, model: str) -> None:
        if self.gauge is not None:
            state = self.get(upstream, model).state
            self.gauge.labels(upstream, model).set(0 if state == "closed" else 1)

    def states(self) -> dict[str, str]:
        """`upstream/model` -> closed | open | half_open, for /healthz."""
        return {f"{u}/{m}": b.state for (u, m), b in sorted(self._by.items())}
