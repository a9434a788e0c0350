"""Write docs/configuration.md from the pydantic models, so the reference never drifts from the code.

Run: .venv/bin/python scripts/config_reference.py  (tests check the file is up to date)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tunewise.config import ProjectConfig

OUT = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    text = json.dumps(value, default=str)
    return f"`{text}`" if len(text) < 60 else f"`{text[:57]}...`"


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows: list[str] = []
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            nested.append((f"{prefix}{name}.", ann))
            continue
        type_name = str(ann).replace("typing.", "").replace("<class '", "").replace("'>", "")
        desc = (field.description or "").replace("\n", " ").replace("|", "\\|")
        rows.append(f"| `{prefix}{name}` | `{type_name}` | {_default(field)} | {desc} |")
    for sub_prefix, sub in nested:
        rows.extend(_rows(sub, sub_prefix))
    return rows


def render() -> str:
    lines = [
        "# tunewise.yaml reference",
        "",
        "Generated from the pydantic models by `scripts/config_reference.py`; do not edit by hand.",
        "`tunewise config validate FILE` checks a file and lists every problem; `tunewise config schema`",
        "prints the JSON Schema for editors (yaml-language-server: `# yaml-language-server: $schema=...`).",
        "Relative paths resolve against the config file's folder.",
        "",
    ]
    top = ProjectConfig.model_fields
    scalars = [
        n
        for n, f in top.items()
        if not (isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel))
    ]
    lines += ["## top level", "", "| key | type | default | meaning |", "|---|---|---|---|"]
    for name in scalars:
        f = top[name]
        lines.append(
            f"| `{name}` | `{f.annotation.__name__ if isinstance(f.annotation, type) else f.annotation}` | {_default(f)} | {(f.description or '').replace(chr(10), ' ')} |"
        )
    for name, f in top.items():
        if name in scalars:
            continue
        assert isinstance(f.annotation, type)
        doc = (f.annotation.__doc__ or "").strip().splitlines()[0] if f.annotation.__doc__ else ""
        lines += [
            "",
            f"## `{name}:`",
            "",
            doc,
            "",
            "| key | type | default | meaning |",
            "|---|---|---|---|",
        ]
        lines += _rows(f.annotation, f"{name}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.is_file() and OUT.read_text() == text else 1)
    OUT.write_text(text)
    print(f"wrote {OUT}")
