"""How `{dotted.path: value}` overrides meet a parsed config, and how its problems are named.

`tunewise.config` loads a file, calls `set_path` for each override on the parsed mapping and
validates once, so a bad file value and a bad option are reported together, each with its path.
This module knows the config only through the model class it is given (no import of config.py).
"""

from __future__ import annotations

import datetime
import difflib
import re
import types
import typing
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

_SCHEMA_HINT = "`tunewise config schema` lists the keys"
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union (or the annotation itself), with Annotated unwrapped."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    for m in _members(annotation):
        if isinstance(m, type) and issubclass(m, BaseModel):
            return m
    return None


def _item_in(annotation: Any) -> Any:
    for m in _members(annotation):
        if typing.get_origin(m) in (list, tuple, set):
            return (typing.get_args(m) or (Any,))[0]
    return Any


def _mapping_in(annotation: Any) -> bool:
    return _model_in(annotation) is not None or any(
        typing.get_origin(m) is dict or m is dict for m in _members(annotation)
    )


def _unknown(path: str, parts: list[str], i: int, model: type[BaseModel]) -> str:
    """`path: unknown key` with the closest field (`lr` -> `learning_rate` by its initials)."""
    part, fields = parts[i], list(model.model_fields)
    initials = [f for f in fields if "".join(w[:1] for w in f.split("_")) == part]
    close = initials or difflib.get_close_matches(part.replace("-", "_"), fields, n=1)
    which = "" if i == len(parts) - 1 else f" {'.'.join(parts[: i + 1])!r}"
    hint = f"did you mean {'.'.join([*parts[:i], close[0]])}? " if close else ""
    return f"{path}: unknown key{which} ({hint}{_SCHEMA_HINT})"


def set_path(raw: dict[str, Any], path: str, value: Any, root: type[BaseModel]) -> str | None:
    """Put `value` at dotted `path` in `raw` (a parsed config); return a problem, or None.

    Sections are walked by the model's fields, so an unknown key is named with its full path;
    list items are addressed by index (`eval.scorers.0.name`); free-form mappings take any key.
    Missing sections are created.
    """
    parts = path.split(".")
    node: Any = raw
    annotation: Any = root
    for i, part in enumerate(parts):
        prefix = ".".join(parts[:i])
        model = _model_in(annotation)
        key: str | int
        if isinstance(node, dict) and model is not None:
            if part not in model.model_fields:
                return _unknown(path, parts, i, model)
            annotation, key = model.model_fields[part].annotation, part
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return (
                    f"{path}: {prefix} has no item {part} (it has {len(node)}; items count from 0)"
                )
            annotation, key = _item_in(annotation), int(part)
        elif isinstance(node, dict):
            annotation, key = Any, part
        else:
            return f"{path}: {prefix or '(top level)'} is a single value, not a section"
        if i == len(parts) - 1:
            node[key] = value
            return None
        child = node.get(key) if isinstance(node, dict) else node[int(key)]
        if child is None and _mapping_in(annotation):
            child = node[key] = {}
        node = child
    return None  # pragma: no cover - the loop always returns


def annotation_at(path: str, root: type[BaseModel]) -> Any:
    """The declared type at a dotted path (list indexes allowed); None when the path is unknown."""
    annotation: Any = root
    for part in path.split("."):
        model = _model_in(annotation)
        if model is not None and part in model.model_fields:
            annotation = model.model_fields[part].annotation
        elif part.isdigit() and _item_in(annotation) is not Any:
            annotation = _item_in(annotation)
        else:
            return None
    return annotation


def _text_only(annotation: Any) -> bool:
    """True when every non-null alternative is text (str or a Literal of strings)."""
    members = [m for m in _members(annotation) if m is not type(None)]
    return bool(members) and all(
        m is str
        or (
            typing.get_origin(m) is typing.Literal
            and all(isinstance(a, str) for a in typing.get_args(m))
        )
        for m in members
    )


def parse_value(path: str, text: str, root: type[BaseModel]) -> Any:
    """The value of `--set PATH=TEXT`: text for text keys, else YAML (`1e-4`, `[a, b]`, `null`).

    YAML 1.1 would read `off`/`yes` as booleans and `2024-01-01` as a date; those stay words
    unless written `true`/`false`, so `--set data.pii.mode=off` means the mode "off".
    """
    annotation = annotation_at(path, root)
    if annotation is not None and _text_only(annotation):
        nullable = type(None) in _members(annotation)
        return None if nullable and text.strip() in ("null", "~") else text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValueError(f"{path}: value {text!r} is not valid YAML ({problem})") from None
    if isinstance(value, bool) and text.strip().lower() not in ("true", "false"):
        return text
    if isinstance(value, datetime.date):
        return text
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)  # YAML 1.1 wants a dot in floats: 1e-4 would stay text
    return value


def humanize_error(err: dict[str, Any]) -> str:
    """One pydantic error as `path: message` in plain words."""
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
        msg = f"unknown key (check the spelling; {_SCHEMA_HINT})"
    elif kind == "missing":
        msg = "required"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{loc}: {msg}"


def _data_loc(raw: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """`loc` cut where it leaves the data: pydantic appends union member tags (`int`,
    `literal['auto']`) after a scalar, which are not keys the user can set."""
    node = raw
    for i, part in enumerate(loc):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif node is not None:
            return loc[:i]
        else:
            return loc
    return loc


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validation_problems(
    exc: ValidationError, raw: Any, overrides: dict[str, Any] | None = None
) -> list[str]:
    """Every error of a validation as `path: message`, one line per path; a path that was
    overridden says the value it was set to."""
    grouped: dict[str, list[str]] = {}
    for err in exc.errors():
        line = humanize_error({**err, "loc": _data_loc(raw, tuple(err["loc"]))})
        path, _, msg = line.partition(": ")
        if msg not in grouped.setdefault(path, []):
            grouped[path].append(msg)
    out = []
    for path, msgs in grouped.items():
        text = f"{path}: {'; or '.join(msgs)}"
        if overrides and path in overrides:
            text += f" (set to {_short(overrides[path])})"
        else:
            parent = next((p for p in overrides or {} if path.startswith(p + ".")), None)
            text += f" (set by {parent})" if parent else ""
        out.append(text)
    return out
