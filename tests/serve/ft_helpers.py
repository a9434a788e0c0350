"""Helpers for the fine-tuning API tests: small chat and preference files in OpenAI's format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INTENTS = ["card_arrival", "lost_card", "top_up", "refund", "pin_blocked"]


def chat_rows(n: int = 12, *, seed: int = 0) -> list[dict[str, Any]]:
    """`n` distinct support conversations with a JSON intent as the answer."""
    rows = []
    for i in range(n):
        intent = INTENTS[(i + seed) % len(INTENTS)]
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "Classify the banking request."},
                    {"role": "user", "content": f"question {i + seed} about my {intent}"},
                    {"role": "assistant", "content": json.dumps({"intent": intent})},
                ]
            }
        )
    return rows


def dpo_rows(n: int = 12) -> list[dict[str, Any]]:
    return [
        {
            "input": {"messages": [{"role": "user", "content": f"say hello number {i}"}]},
            "preferred_output": [{"role": "assistant", "content": f"Hello {i}!"}],
            "non_preferred_output": [{"role": "assistant", "content": "no"}],
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
