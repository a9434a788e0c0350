"""The row every data step works on, and how rows look on disk.

A dataset version's `train.jsonl` / `validation.jsonl` hold one row per line:

    {"id": "r-3f2a...", "messages": [...], "tools": [...]?, "provenance": "human",
     "tags": ["intent:billing"], "source": {"file": "tickets.jsonl", "line": 17}}

DPO rows carry `input` / `preferred_output` / `non_preferred_output` instead of `messages`.
`to_openai` strips the tunewise keys for upload to a hosted provider.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["sft", "dpo"]
OPENAI_SFT_KEYS = ("messages", "tools", "parallel_tool_calls")
OPENAI_DPO_KEYS = ("input", "preferred_output", "non_preferred_output")


@dataclass
class Source:
    """Where a row came from: file name and 1-based line (CSV: the data line, header excluded)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file} line {self.line}"


@dataclass
class Row:
    """One training example in OpenAI chat form (or a DPO preference pair) plus tunewise metadata."""

    messages: list[dict[str, Any]]
    source: Source
    kind: Kind = "sft"
    tools: list[dict[str, Any]] | None = None
    parallel_tool_calls: bool | None = None
    preferred_output: list[dict[str, Any]] | None = None
    non_preferred_output: list[dict[str, Any]] | None = None
    provenance: str = "human"
    tags: list[str] = field(default_factory=list)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = row_id(self.content())

    def content(self) -> dict[str, Any]:
        """The trainable content (what the provider sees), without tunewise metadata."""
        if self.kind == "dpo":
            return {
                "input": {
                    "messages": self.messages,
                    **({"tools": self.tools} if self.tools else {}),
                },
                "preferred_output": self.preferred_output,
                "non_preferred_output": self.non_preferred_output,
            }
        out: dict[str, Any] = {"messages": self.messages}
        if self.tools is not None:
            out["tools"] = self.tools
        if self.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = self.parallel_tool_calls
        return out

    def to_json(self) -> dict[str, Any]:
        """The on-disk form in a dataset version folder."""
        return {
            "id": self.id,
            **self.content(),
            "provenance": self.provenance,
            "tags": list(self.tags),
            "source": {"file": self.source.file, "line": self.source.line},
        }

    # Convenience views used by the rules.
    def prompt_messages(self) -> list[dict[str, Any]]:
        """Messages before the last assistant turn (for DPO: the input messages)."""
        if self.kind == "dpo":
            return self.messages
        last = max(
            (i for i, m in enumerate(self.messages) if m.get("role") == "assistant"),
            default=len(self.messages),
        )
        return self.messages[:last]

    def answer(self) -> str:
        """Text of the final assistant answer (DPO: the preferred one); empty if none."""
        msgs = self.preferred_output if self.kind == "dpo" else self.messages
        for m in reversed(msgs or []):
            if m.get("role") == "assistant":
                return text_of(m.get("content"))
        return ""

    def text(self, roles: tuple[str, ...] = ("user", "assistant")) -> str:
        """Concatenated text of the given roles, in order (used for dedup and leakage checks)."""
        msgs = list(self.messages) + (
            list(self.preferred_output or []) if self.kind == "dpo" else []
        )
        return "\n".join(text_of(m.get("content")) for m in msgs if m.get("role") in roles)

    def tag(self, name: str) -> str | None:
        """Value of a `name:value` tag, or None."""
        prefix = name + ":"
        return next((t[len(prefix) :] for t in self.tags if t.startswith(prefix)), None)


def text_of(content: Any) -> str:
    """Plain text of a message content: a string, or OpenAI content parts [{type: text, text}]."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def row_id(content: dict[str, Any]) -> str:
    """Stable id from the row's content: identical content, identical id."""
    blob = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "r-" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def to_openai(row_json: dict[str, Any]) -> dict[str, Any]:
    """Strip tunewise metadata from an on-disk row so a provider accepts it."""
    keys = OPENAI_DPO_KEYS if "preferred_output" in row_json else OPENAI_SFT_KEYS
    return {k: row_json[k] for k in keys if k in row_json}


@dataclass
class Reject:
    """A row that did not make it, with every reason. `raw` is the original line (truncated)."""

    source: Source
    reasons: list[str]
    raw: str = ""
    row_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": {"file": self.source.file, "line": self.source.line},
            "row_id": self.row_id,
            "reasons": self.reasons,
            "raw": self.raw,
        }
