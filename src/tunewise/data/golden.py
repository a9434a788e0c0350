"""The golden-file format and its one reader, for `data prepare` and `eval` alike.

A golden file is JSONL, one case per line: `{id, messages, expected, tags}` (plus optional
`provenance` and `source`, which `data prepare` writes). `messages` is the prompt only (no final
assistant turn); `expected` is the reference answer, a JSON value when the answer is JSON, else
text; `tags` are bucket names (`intent:billing`, `safety`). Every problem is reported at once with
its line; nothing in the file is rewritten by config (it is frozen and pinned by its hash).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.data.schema import text_of
from tunewise.errors import DataError

_ROLES = {"system", "user", "assistant", "tool", "developer"}
_MAX_LISTED = 20


@dataclass
class Case:
    """One golden case."""

    id: str
    messages: list[dict[str, Any]]
    expected: Any
    tags: list[str] = field(default_factory=list)
    provenance: str = "human"
    """Where the case came from (not part of its content or hash)."""
    line: int = 0
    """Its line in the golden file (0 when built in code)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "messages": self.messages,
            "expected": self.expected,
            "tags": list(self.tags),
        }

    def expected_text(self) -> str:
        """The reference answer as text (JSON values in canonical compact form)."""
        if isinstance(self.expected, str):
            return self.expected
        return json.dumps(self.expected, ensure_ascii=False, sort_keys=True)

    def prompt_text(self) -> str:
        """All prompt message text, for grounding and retrieval."""
        return "\n".join(text_of(m.get("content")) for m in self.messages)

    def query_text(self) -> str:
        """Text of the last user message (what few-shot retrieval matches on)."""
        return next(
            (text_of(m.get("content")) for m in reversed(self.messages) if m.get("role") == "user"),
            "",
        )


def _problems(row: Any, line: int, seen: dict[str, int]) -> list[str]:
    where = f"line {line}"
    if not isinstance(row, dict):
        return [f"{where}: must be a JSON object with id, messages, expected, tags"]
    out = []
    cid = row.get("id")
    if not isinstance(cid, str) or not cid:
        out.append(f"{where}: 'id' must be a non-empty string")
    elif cid in seen:
        out.append(f"{where}: duplicate id '{cid}' (first on line {seen[cid]}); ids must be unique")
    else:
        seen[cid] = line
    msgs = row.get("messages")
    if not isinstance(msgs, list) or not msgs:
        out.append(f"{where}: 'messages' must be a non-empty list of {{role, content}}")
    else:
        for k, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in _ROLES:
                out.append(f"{where}: messages[{k}] needs a role among {sorted(_ROLES)}")
        if isinstance(msgs[-1], dict) and msgs[-1].get("role") == "assistant":
            out.append(
                f"{where}: the last message is an assistant answer; put the reference in 'expected'"
            )
    if "expected" not in row:
        out.append(f"{where}: 'expected' is missing (the reference answer, text or JSON)")
    tags = row.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        out.append(
            f"{where}: 'tags' must be a list of strings such as 'intent:billing' or 'safety'"
        )
    unknown = set(row) - {"id", "messages", "expected", "tags", "source", "provenance"}
    if unknown:
        out.append(f"{where}: unknown key(s) {sorted(unknown)}")
    return out


def read_cases(path: str | Path) -> list[Case]:
    """Read and validate a golden JSONL file; DataError listing every problem with its line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: golden file not found")
    cases: list[Case] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {line_no}: invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        found = _problems(row, line_no, seen)
        if found:
            problems.extend(found)
            continue
        tags = list(row.get("tags", []))
        provenance = str(row.get("provenance") or "human")
        cases.append(Case(row["id"], row["messages"], row["expected"], tags, provenance, line_no))
    if problems:
        listing = "\n  ".join(problems[:_MAX_LISTED])
        more = (
            f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        )
        raise DataError(f"{path}: {len(problems)} problem(s) in the golden set:\n  {listing}{more}")
    if not cases:
        raise DataError(f"{path}: the golden set is empty")
    return cases
