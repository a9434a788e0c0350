"""Configuration of canary rollouts (the `rollout:` section of tunewise.yaml)."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tunewise.errors import ConfigError

# The metrics a step judges, and the default margin of each (see metrics.py for the meanings).
DEFAULT_MARGINS: dict[str, float | None] = {
    "error_rate": 0.01,
    "slow_share": 0.05,
    "json_valid": 0.02,
    "json_schema": 0.02,
    "refusal": 0.02,
    "hallucination_marker": 0.02,
    "chars": 0.5,
    "rating": 0.05,
    "bad_outcome": 0.02,
    "judge": 0.05,
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str | float | int) -> timedelta:
    """`10m`, `30s`, `1.5h`, `500ms` or plain seconds -> timedelta; ConfigError otherwise."""
    m = _DURATION.match(str(text))
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(
            f"'{text}' is not a duration; use a number with s, m, h or d (e.g. 10m or 30s)"
        )
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def parse_steps(text: str | list[float] | list[int]) -> list[float]:
    """`5,25,50,100` -> [5.0, 25.0, 50.0, 100.0]: increasing percentages ending at 100."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        steps = [float(str(p).strip().removesuffix("%")) for p in parts if str(p).strip()]
    except ValueError:
        raise ConfigError(f"steps '{text}': use increasing percentages like 5,25,50,100") from None
    if not steps or any(not 0 < s <= 100 for s in steps):
        raise ConfigError(f"steps '{text}': every step is a percentage above 0 and at most 100")
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise ConfigError(f"steps '{text}': each step must be larger than the one before")
    if steps[-1] != 100:
        raise ConfigError(
            f"steps '{text}': the last step must be 100 (then the canary is promoted)"
        )
    return steps


class RolloutConfig(BaseModel):
    """How a canary is ramped, judged against control on live traffic, and rolled back."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    steps: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0])
    """Canary shares (percent of users) in order; passing the 100% step promotes the canary."""
    interval: str = "10m"
    """Shortest time at each step before it can pass (`10m`, `30s`, `1h`)."""
    min_requests: int = Field(200, gt=0)
    """Requests each arm needs at a step before it can pass; with fewer the step holds."""
    min_samples: int = Field(20, gt=1)
    """Observations each arm needs before a metric can fail the canary (the normal
    approximation behind the confidence sequence needs a few)."""
    alpha: float = Field(0.05, gt=0, lt=0.5)
    """Chance that a canary as good as control is rolled back anyway, over the whole rollout
    (split evenly over its stages and metrics)."""
    sequential_tuning: int | None = Field(None, gt=0)
    """Sample size at which the confidence sequences are tightest; default: the requests a
    step needs (min_requests on the smaller arm, both arms counted)."""
    margins: dict[str, float | None] = Field(default_factory=lambda: dict(DEFAULT_MARGINS))
    """How much worse the canary may be before it fails, per metric (absolute, except `chars`:
    a share of control's mean length, either way). Given values replace the defaults one by one;
    null stops judging that metric."""
    bad_outcomes: list[str] = Field(default_factory=lambda: ["escalated", "reopened", "bad"])
    """Feedback outcome labels that count against the answer (the `bad_outcome` metric)."""
    tick: str = "5s"
    """How often the controller looks at a running rollout (each look may roll back)."""
    lease: str = "30s"
    """How long one server's claim to act on a feature's rollout lasts without renewal."""
    controller: bool = True
    """Run the controller inside `tunewise serve` (it acts only while holding the lease);
    false leaves it to `tunewise rollout tick` from cron."""
    shadow_interval: str | None = None
    """Shortest time in the shadow stage (default: `interval`)."""
    shadow_concurrency: int = Field(4, gt=0)
    """Shadow calls in flight per server; more are skipped (and counted), never queued."""
    judge_sample: float = Field(0.2, gt=0, le=1)
    """Share of each arm's answers the LLM judge scores when the rollout has one (the `judge`
    scorer of `eval.scorers`); off the request path, never slowing a user."""
    judge_batch: int = Field(8, gt=0)
    """Answers the judge scores at once per server (one batch in flight at a time)."""
    judge_queue: int = Field(64, gt=0)
    """Sampled answers waiting per arm; beyond this they are skipped (counted), never queued."""
    owner: str | None = None
    """Who owns the feature in production (a checklist item)."""

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, value: object) -> list[float]:
        try:
            return parse_steps(value)  # type: ignore[arg-type]
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("interval", "tick", "lease", "shadow_interval")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_interval(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("margins")
    @classmethod
    def _margins(cls, value: dict[str, float | None]) -> dict[str, float | None]:
        unknown = sorted(set(value) - set(DEFAULT_MARGINS))
        if unknown:
            raise ValueError(
                f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_MARGINS)}"
            )
        if any(v is not None and v < 0 for v in value.values()):
            raise ValueError("margins cannot be negative")
        return {**DEFAULT_MARGINS, **value}

    def judged(self) -> dict[str, float]:
        """The metrics judged, with their margins."""
        return {k: v for k, v in self.margins.items() if v is not None}
