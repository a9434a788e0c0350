"""Golden sets: frozen JSONL cases `{id, messages, expected, tags}`, pinned by content hash.

The format and its reader live in `tunewise.data.golden` (data prepare reads golden files too);
this module adds the set with its hash.

`messages` is the prompt only (no final assistant turn); `expected` is the reference answer, a JSON
value when the answer is JSON, else text; `tags` are bucket names (`intent:billing`, `safety`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunewise.artifacts import sha256_json
from tunewise.data.golden import Case, read_cases

__all__ = ["Case", "GoldenSet", "golden_hash", "load_golden"]


@dataclass
class GoldenSet:
    """The cases of one golden file and its content hash (recorded in every report)."""

    path: str
    cases: list[Case]
    hash: str

    def ids(self) -> list[str]:
        return [c.id for c in self.cases]


def load_golden(path: str | Path) -> GoldenSet:
    """Read and validate a golden JSONL file (see `tunewise.data.golden`) with its content hash."""
    cases = read_cases(path)
    return GoldenSet(str(path), cases, golden_hash(cases))


def golden_hash(cases: list[Case]) -> str:
    """Content hash of a golden set: independent of key order, whitespace and file name."""
    return sha256_json([c.to_json() for c in cases])
