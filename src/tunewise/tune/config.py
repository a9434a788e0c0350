"""Configuration of the hyperparameter search (the `tune:` section of tunewise.yaml)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smh])")
_SECONDS = {"s": 1, "m": 60, "h": 3600}
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
ALL_LINEAR = [*ATTENTION, "gate_proj", "up_proj", "down_proj"]


def parse_budget(text: str | int | float) -> float:
    """`20m`, `90s`, `1h30m` or a number of seconds -> seconds; ValueError otherwise."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        s = str(text).strip().lower().replace(" ", "")
        parts = _DURATION.findall(s)
        if not parts or "".join(n + u for n, u in parts) != s:
            if not s.replace(".", "", 1).isdigit():
                raise ValueError(f"'{text}' is not a duration; use e.g. 20m, 90s, 1h30m")
            parts = [(s, "s")]
        seconds = sum(float(n) * _SECONDS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"'{text}': the budget must be more than 0")
    return seconds


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class SearchSpace(_Section):
    """What the search may change in `train:`; narrow a range to one value to fix it."""

    learning_rate: tuple[float, float] = (1e-4, 3e-3)
    """Low and high peak learning rate, sampled on a log scale."""
    epochs: tuple[int, int] = (2, 8)
    """Fewest and most epochs."""
    lora_r: list[int] = Field(default_factory=lambda: [4, 8, 16, 32])
    """LoRA ranks to try (alpha follows as 2 x r)."""
    lora_targets: dict[str, list[str]] = Field(
        default_factory=lambda: {"attention": ATTENTION, "all": ALL_LINEAR}
    )
    """Named sets of module names that get adapters."""
    rehearsal_share: tuple[float, float] = (0.0, 0.5)
    """Lowest and highest rehearsal share (0 turns rehearsal off for that trial)."""

    @model_validator(mode="after")
    def _ranges(self) -> SearchSpace:
        for name in ("learning_rate", "epochs", "rehearsal_share"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}: low {low} is above high {high}")
        if self.learning_rate[0] <= 0 or self.epochs[0] < 1:
            raise ValueError("learning_rate must be > 0 and epochs >= 1")
        if not 0 <= self.rehearsal_share[0] <= self.rehearsal_share[1] <= 0.75:
            raise ValueError("rehearsal_share must lie in [0, 0.75]")
        if not self.lora_r or any(r <= 0 for r in self.lora_r):
            raise ValueError("lora_r: give one or more ranks > 0")
        if not self.lora_targets or not all(self.lora_targets.values()):
            raise ValueError("lora_targets: give one or more non-empty named module lists")
        return self


class TuneConfig(_Section):
    """Hyperparameter search with Optuna (`tunewise tune`, or `run.tune: true`): TPE over the
    space below, trials pruned by the median of earlier trials' validation losses, scored by the
    primary metric on the validation split with the gate's forgetting rule as a constraint."""

    budget: str = "20m"
    """Wall-clock budget of the whole search (`20m`, `90s`, `1h30m`); no trial starts that the
    budget is not expected to cover, and one still running at the end is stopped."""
    trials: int | None = Field(12, gt=0)
    """Most trials (None: as many as the budget allows)."""
    seed: int = 0
    """Seed of the TPE sampler (train.seed stays the trials' training seed)."""
    startup_trials: int = Field(4, ge=1)
    """Trials sampled at random before TPE models the results (the current config is trial 0)."""
    prune_after: int = Field(2, ge=1)
    """Finished trials needed before the median pruner may stop one."""
    space: SearchSpace = Field(default_factory=SearchSpace)
    """The ranges searched."""

    @field_validator("budget")
    @classmethod
    def _budget(cls, value: str) -> str:
        parse_budget(value)
        return value

    def budget_s(self) -> float:
        return parse_budget(self.budget)
