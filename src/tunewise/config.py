"""The project config, `tunewise.yaml`: one pydantic model per stage, validated in one place.

`load_config` raises a ConfigError listing every problem at once, each with its path
(`train.lora.r: must be > 0`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tunewise.data.config import DataConfig
from tunewise.decide import DecideConfig
from tunewise.errors import ConfigError
from tunewise.evaluate.config import EvalConfig, GateConfig
from tunewise.monitor.config import MonitorConfig
from tunewise.pipeline.config import RunConfig
from tunewise.registry.config import RegistryConfig
from tunewise.serve.config import ServeConfig
from tunewise.train.config import TrainConfig


class ProjectConfig(BaseModel):
    """Everything `tunewise run` needs for one use case."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    project: str = "default"
    """Name of the use case (feature); used for run folders and registry aliases."""
    decide: DecideConfig = Field(default_factory=DecideConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)

    # Folder the config was loaded from; relative paths in the config resolve against it.
    _base_dir: Path = Path(".")

    def resolve(self, path: str | Path) -> Path:
        """A path from the config, made absolute against the config file's folder."""
        p = Path(path)
        return p if p.is_absolute() else (self._base_dir / p)


def _humanize(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"]
    ctx = err.get("ctx") or {}
    kind = err.get("type", "")
    if kind == "greater_than":
        msg = f"must be > {ctx.get('gt')}"
    elif kind == "greater_than_equal":
        msg = f"must be >= {ctx.get('ge')}"
    elif kind == "less_than":
        msg = f"must be < {ctx.get('lt')}"
    elif kind == "less_than_equal":
        msg = f"must be <= {ctx.get('le')}"
    elif kind == "extra_forbidden":
        msg = "unknown key (check the spelling; `tunewise config schema` lists the keys)"
    elif kind == "missing":
        msg = "required"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{loc}: {msg}"


def config_problems(raw: Any) -> list[str]:
    """Every problem in a raw (parsed YAML) config, each as `path: message`. Empty when valid."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return ["(top level): must be a mapping of sections (data:, train:, ...)"]
    try:
        ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        return [_humanize(e) for e in exc.errors()]  # type: ignore[arg-type]
    return []


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from exc


def load_config(path: str | Path) -> ProjectConfig:
    """Load and validate a tunewise.yaml; raise ConfigError listing every problem."""
    path = Path(path)
    raw = _read_yaml(path)
    problems = config_problems(raw)
    if problems:
        listing = "\n  ".join(problems)
        raise ConfigError(f"{path}: {len(problems)} problem(s):\n  {listing}")
    cfg = ProjectConfig.model_validate(raw or {})
    cfg._base_dir = path.resolve().parent
    return cfg


def validate_config_file(path: str | Path) -> list[str]:
    """Problems in a config file (empty list when valid). YAML syntax errors raise ConfigError."""
    return config_problems(_read_yaml(Path(path)))


def config_json_schema() -> str:
    """JSON Schema of tunewise.yaml, for editors (yaml-language-server)."""
    schema = ProjectConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tunewise.yaml"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
