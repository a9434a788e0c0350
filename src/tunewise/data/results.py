"""What the data stage returns: `CheckResult` (check) and `PrepareResult` (prepare), and token stats.

Kept apart from prepare.py so that output.py, which writes a version from a CheckResult, does not
import the module that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.data.cost import CostEstimate
from tunewise.data.schema import Reject, Row
from tunewise.data.split import Split
from tunewise.data.targets import Target


@dataclass
class CheckResult:
    """What `check` found: kept rows, rejects, counts per step, tokens, mix, PII, cost, blockers."""

    target: Target
    rows: list[Row]
    rejects: list[Reject]
    counts: dict[str, int]
    tokens: dict[str, int]
    token_counts: dict[str, int]
    labels: dict[str, int]
    provenance: dict[str, int]
    pii: dict[str, Any]
    dedup: dict[str, Any]
    cost: CostEstimate
    inputs: list[dict[str, Any]]
    blocking: list[str] = field(default_factory=list)
    pii_mapping: Any = field(default=None, repr=False)
    """The PII placeholder table (raw values: never written); reused to redact a golden file."""

    @property
    def ok(self) -> bool:
        return not self.blocking


@dataclass
class PrepareResult:
    """A written dataset version: where, its manifest, and the check it was built from."""

    out_dir: Path
    manifest: dict[str, Any]
    check: CheckResult
    split: Split
    augmented: int


def token_stats(counts: list[int]) -> dict[str, int]:
    """Total, mean, max and 95th percentile of per-row token counts."""
    if not counts:
        return {"total": 0, "mean": 0, "max": 0, "p95": 0}
    ordered = sorted(counts)
    return {
        "total": sum(counts),
        "mean": round(sum(counts) / len(counts)),
        "max": ordered[-1],
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
    }
