"""Prometheus metrics of one gateway (its own registry, so tests can run several apps)."""

from __future__ import annotations

from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "tunewise_requests",
            "Chat requests answered, by feature, arm, model and HTTP status.",
            ["feature", "arm", "model", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "tunewise_request_latency_seconds",
            "Time to the whole answer (streams: to the last chunk).",
            ["feature", "arm"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "tunewise_time_to_first_token_seconds",
            "Time to the first streamed chunk.",
            ["feature", "arm"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "tunewise_tokens", "Tokens in and out.", ["feature", "arm", "direction"], registry=r
        )
        self.upstream_faults = Counter(
            "tunewise_upstream_faults",
            "Faults of an upstream (errors, timeouts, overload, broken streams), by error code.",
            ["upstream", "code"],
            registry=r,
        )
        self.fallbacks = Counter(
            "tunewise_fallbacks",
            "Canary requests answered by control after a canary fault or refusal.",
            ["feature"],
            registry=r,
        )
        self.retries = Counter(
            "tunewise_retries", "Retries of an upstream request.", ["upstream"], registry=r
        )
        self.broken_streams = Counter(
            "tunewise_broken_streams",
            "Streams that failed after tokens were sent.",
            ["feature", "arm"],
            registry=r,
        )
        self.anonymous = Counter(
            "tunewise_anonymous_requests",
            "Requests without a user id (always served by control).",
            ["feature"],
            registry=r,
        )
        self.circuit_open = Gauge(
            "tunewise_circuit_open",
            "1 while the circuit of a model on an upstream is open (or half open).",
            ["upstream", "model"],
            registry=r,
        )
        self.log_dropped = Counter(
            "tunewise_request_log_dropped",
            "Request-log rows dropped (queue full or write failed).",
            registry=r,
        )
        self.log_written = Counter(
            "tunewise_request_log_written", "Request-log rows written.", registry=r
        )
        self.catalog_errors = Counter(
            "tunewise_catalog_refresh_errors",
            "Failed reads of aliases, flags and keys from the store (the last good view is kept).",
            registry=r,
        )

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0 when absent), for tests and the CLI."""
        value: Any = self.registry.get_sample_value(name, labels or {})
        return float(value or 0.0)
