"""The project config, `tunewise.yaml`: one pydantic model per stage, validated in one place.

One path from file to config: `load_config(file, overrides)` reads the file (or starts from the
defaults), applies `{dotted.path: value}` overrides (command-line options, `--set`) and validates
once, raising a ConfigError that lists every problem with its path (`train.lora.r: must be > 0`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tunewise.data.config import DataConfig
from tunewise.decide import DecideConfig
from tunewise.errors import ConfigError
from tunewise.evaluate.config import EvalConfig, GateConfig
from tunewise.monitor.config import MonitorConfig
from tunewise.overlay import humanize_error as _humanize  # noqa: F401  (name older callers use)
from tunewise.overlay import parse_value, set_path, validation_problems
from tunewise.pipeline.config import RunConfig
from tunewise.registry.config import RegistryConfig
from tunewise.serve.config import ServeConfig
from tunewise.serve.rollout.config import RolloutConfig
from tunewise.train.config import TrainConfig
from tunewise.tune.config import TuneConfig


class ProjectConfig(BaseModel):
    """Everything `tunewise run` needs for one use case."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    project: str = "default"
    """Name of the use case (feature); used for run folders and registry aliases."""
    decide: DecideConfig = Field(default_factory=DecideConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)

    # Folder the config was loaded from; relative paths in the config resolve against it.
    _base_dir: Path = Path(".")

    def resolve(self, path: str | Path) -> Path:
        """A path from the config, made absolute against the config file's folder."""
        p = Path(path)
        return p if p.is_absolute() else (self._base_dir / p)


def _problems(raw: Any, overrides: dict[str, Any] | None = None) -> tuple[Any, list[str]]:
    """(validated config or None, every problem as `path: message`) for a parsed config."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return None, ["(top level): must be a mapping of sections (data:, train:, ...)"]
    problems = []
    for path, value in (overrides or {}).items():
        problem = set_path(raw, path, value, ProjectConfig)
        if problem:
            problems.append(problem)
    try:
        cfg = ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        return None, problems + validation_problems(exc, raw, overrides)
    return (None if problems else cfg), problems


def config_problems(raw: Any) -> list[str]:
    """Every problem in a raw (parsed YAML) config, each as `path: message`. Empty when valid."""
    return _problems(raw)[1]


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


def _validated(
    raw: Any, overrides: dict[str, Any] | None, source: Path | None, base_dir: Path
) -> ProjectConfig:
    cfg, problems = _problems(raw, overrides)
    if problems or cfg is None:
        listing = "\n  ".join(problems)
        where = (
            f"{source}: {len(problems)} problem(s)"
            if source and not overrides
            else f"{len(problems)} problem(s) in {f'{source} and ' if source else ''}the options"
        )
        raise ConfigError(f"{where}:\n  {listing}")
    cfg._base_dir = base_dir
    return cfg


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> ProjectConfig:
    """The one way to a ProjectConfig: the file (or the defaults when `path` is None), then the
    `{dotted.path: value}` overrides, then one validation; raises ConfigError listing every
    problem of file and overrides at once, each with its path.

    Relative paths in the config resolve against the file's folder (the working folder without
    a file); override values are taken as written in the file.
    """
    if path is None:
        return _validated({}, overrides, None, Path.cwd())
    path = Path(path)
    return _validated(_read_yaml(path), overrides, path, path.resolve().parent)


def apply_overrides(cfg: ProjectConfig, overrides: dict[str, Any]) -> ProjectConfig:
    """A new config with `{dotted.path: value}` applied and the whole re-validated (ConfigError
    listing every problem with its path, exit code 2); `cfg`'s folder for relative paths is kept.

    `apply_overrides(cfg, {"train.learning_rate": 1e-4, "train.lora.target_modules": ["q_proj"]})`
    """
    return _validated(cfg.model_dump(), overrides, None, cfg._base_dir)


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """`["train.lora.r=8", "data.pii.mode=off"]` (the `--set` form) as overrides; VALUE is read
    as YAML except for text keys. Raises ConfigError naming every malformed item."""
    out: dict[str, Any] = {}
    problems = []
    for item in items:
        path, eq, text = item.partition("=")
        path = path.strip()
        if not eq or not path:
            problems.append(f"{item!r}: expected PATH=VALUE, e.g. train.lora.r=8")
        elif path in out:
            problems.append(f"{path}: set twice; give it once")
        else:
            try:
                out[path] = parse_value(path, text, ProjectConfig)
            except ValueError as exc:
                problems.append(str(exc))
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in --set:\n  " + "\n  ".join(problems))
    return out


def validate_config_file(path: str | Path, overrides: dict[str, Any] | None = None) -> list[str]:
    """Problems in a config file with any overrides (empty list when valid). YAML syntax errors
    raise ConfigError."""
    return _problems(_read_yaml(Path(path)), overrides)[1]


def config_json_schema() -> str:
    """JSON Schema of tunewise.yaml, for editors (yaml-language-server)."""
    schema = ProjectConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tunewise.yaml"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
