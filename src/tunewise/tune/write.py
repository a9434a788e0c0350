"""Writing the best trial's settings back into a tunewise.yaml, comments kept, atomically.

By default the user's file is left as it is and `NAME.tuned.yaml` is written next to it (relative
paths in it still resolve, since it sits in the same folder); `write=True` updates the file itself.
ruamel.yaml keeps comments and key order; without it the file is rewritten by PyYAML and its
comments are lost (the function says so).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_text
from tunewise.config import apply_overrides, load_config


def tuned_path(config: Path, write: bool) -> Path:
    return config if write else config.with_name(f"{config.stem}.tuned{config.suffix}")


def write_tuned(
    config: Path, values: dict[str, Any], *, write: bool, note: str
) -> tuple[Path, bool]:
    """Set the dotted `values` in the config file (validated first); returns (path, comments kept)."""
    apply_overrides(load_config(config), values)  # a ConfigError here leaves every file untouched
    text = config.read_text(encoding="utf-8")
    try:
        new, kept = _ruamel(text, values), True
    except ImportError:
        new, kept = _pyyaml(text, values), False
    if note and not write:
        new = note.rstrip("\n") + "\n" + new
    dest = tuned_path(config, write)
    atomic_write_text(dest, new)
    load_config(dest)  # what was written reads back as a valid config
    return dest, kept


def _ruamel(text: str, values: dict[str, Any]) -> str:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    data = yaml.load(text) or {}
    for path, value in values.items():
        _set(data, path.split("."), value)
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()


def _pyyaml(text: str, values: dict[str, Any]) -> str:
    import yaml

    data = yaml.safe_load(text) or {}
    for path, value in values.items():
        _set(data, path.split("."), value)
    return str(yaml.safe_dump(data, sort_keys=False))


def _set(data: Any, keys: list[str], value: Any) -> None:
    for k in keys[:-1]:
        if not isinstance(data.get(k), dict):
            data[k] = {}
        data = data[k]
    data[keys[-1]] = value
