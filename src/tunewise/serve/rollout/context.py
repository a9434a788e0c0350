"""What rollouts take from the project (tunewise.yaml): the `rollout:` section, the output JSON
Schema (the `json_schema` score), the label field (shadow agreement), the configured golden set
(the gate a promotion needs) and the rest of the config (checklist items)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.serve.rollout.config import RolloutConfig


@dataclass
class RolloutContext:
    config: RolloutConfig = field(default_factory=RolloutConfig)
    schema: dict[str, Any] | None = None
    label_field: str | None = None
    golden_path: Path | None = None
    judge: dict[str, Any] | None = None
    """The `judge` scorer's parameters in `eval.scorers` (model, rubric, ...), when configured."""
    project: Any = None
    source: str = "tunewise.yaml"

    def golden_sha256(self) -> str | None:
        """The configured golden set's content hash (what gates are pinned to), when set."""
        if self.golden_path is None:
            return None
        from tunewise.evaluate.golden import load_golden

        return load_golden(self.golden_path).hash


def rollout_context(project: Any = None, source: Path | None = None) -> RolloutContext:
    """The context of a loaded ProjectConfig (None: the defaults)."""
    if project is None:
        return RolloutContext()
    from tunewise.data.quality import _load_schema

    spec = project.data.quality.output_json_schema
    if isinstance(spec, str) and not spec.lstrip().startswith("{"):
        spec = str(project.resolve(spec))
    golden = project.registry.golden
    judge = next((dict(sc.params) for sc in project.eval.scorers if sc.name == "judge"), None)
    return RolloutContext(
        config=project.rollout,
        schema=_load_schema(spec) if spec is not None else None,
        label_field=project.eval.label_field,
        golden_path=project.resolve(golden) if golden else None,
        judge=judge,
        project=project,
        source=str(source) if source else "tunewise.yaml",
    )
