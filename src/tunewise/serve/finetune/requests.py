"""The create-job request as OpenAI's spec defines it, and how it becomes a local train config.

Both spellings of the hyperparameters are accepted: `method: {type, <type>: {hyperparameters}}`
and the older top-level `hyperparameters` (a supervised job). Each value is "auto" or a number in
OpenAI's ranges. "auto" is resolved when the files are validated (n_epochs by OpenAI's
heuristic on the example count), so the job object then shows the values used.
"""

from __future__ import annotations

import random
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tunewise.serve.errors import InvalidRequest

Auto = Literal["auto"]


class Hyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_epochs: Annotated[int, Field(ge=1, le=50)] | Auto = "auto"
    batch_size: Annotated[int, Field(ge=1, le=256)] | Auto = "auto"
    learning_rate_multiplier: Annotated[float, Field(gt=0, le=10)] | Auto = "auto"
    beta: Annotated[float, Field(gt=0, le=2)] | Auto | None = None
    """DPO only."""


class MethodParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)


class Method(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: MethodParams | None = None
    dpo: MethodParams | None = None


class JobCreate(BaseModel):
    """POST /v1/fine_tuning/jobs."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    training_file: str = Field(min_length=1)
    validation_file: str | None = None
    suffix: str | None = Field(None, min_length=1, max_length=64)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    metadata: dict[str, str] | None = None
    method: Method | None = None
    hyperparameters: Hyperparameters | None = None
    integrations: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _metadata(self) -> JobCreate:
        meta = self.metadata or {}
        if len(meta) > 16 or any(len(k) > 64 or len(v) > 512 for k, v in meta.items()):
            raise ValueError("at most 16 keys of up to 64 characters, values up to 512")
        return self

    def method_type(self) -> str:
        return self.method.type if self.method else "supervised"

    def hyper(self) -> Hyperparameters:
        """The hyperparameters sent, wherever they were sent."""
        kind = self.method_type()
        if kind == "reinforcement":
            raise InvalidRequest(
                "method type 'reinforcement' is not supported by this server; use supervised or dpo",
                param="method.type",
                code="unsupported_method",
            )
        params = getattr(self.method, kind, None) if self.method else None
        if params is not None and self.hyperparameters is not None:
            raise InvalidRequest(
                "send hyperparameters either in method or at the top level, not both",
                param="hyperparameters",
            )
        if self.hyperparameters is not None and kind != "supervised":
            raise InvalidRequest(
                f"top-level hyperparameters are for supervised jobs; send method.{kind}.hyperparameters",
                param="hyperparameters",
            )
        hp = params.hyperparameters if params else (self.hyperparameters or Hyperparameters())
        if hp.beta is not None and kind != "dpo":
            raise InvalidRequest("beta is a DPO hyperparameter", param="method")
        return hp

    def chosen_seed(self) -> int:
        return self.seed if self.seed is not None else random.randrange(2**31)


def train_settings(
    req: JobCreate, base: str, defaults: dict[str, Any], supervised_method: str
) -> dict[str, Any]:
    """The local TrainConfig (as a dict) for a request; numbers still "auto" stay unset."""
    from tunewise.train.config import TrainConfig

    hp = req.hyper()
    kind = req.method_type()
    cfg = TrainConfig.model_validate({**defaults, "base": base})
    raw = cfg.model_dump(mode="json")
    raw["method"] = "dpo" if kind == "dpo" else supervised_method
    raw["backend"] = "local"
    if hp.n_epochs != "auto":
        raw["epochs"] = hp.n_epochs
    if hp.batch_size != "auto":
        raw["batch_size"] = hp.batch_size
    if hp.learning_rate_multiplier != "auto":
        raw["learning_rate"] = cfg.learning_rate * hp.learning_rate_multiplier
    if kind == "dpo" and hp.beta not in (None, "auto"):
        raw["dpo_beta"] = hp.beta
    raw["seed"] = req.chosen_seed()
    return raw
