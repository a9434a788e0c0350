"""Helpers of the evaluate tests: crafted run results and small files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunewise.evaluate.runner import CaseResult, RunResult


def make_run(
    label: str,
    scores: dict[str, list[float]],
    *,
    tags: list[list[str]] | None = None,
    latency: list[float] | None = None,
    outputs: list[str] | None = None,
    expected: list[Any] | None = None,
    binary: tuple[str, ...] = ("exact_match", "json_valid", "refusal"),
    golden_hash: str = "g" * 64,
) -> RunResult:
    """A RunResult built from per-metric score lists (one value per case, case ids c0, c1, ...)."""
    n = len(next(iter(scores.values())))
    cases = [
        CaseResult(
            id=f"c{i}",
            tags=(tags[i] if tags else []),
            output=(outputs[i] if outputs else f"{label} answer {i}"),
            expected=(expected[i] if expected else f"answer {i}"),
            scores={m: float(v[i]) for m, v in scores.items()},
            reasons={m: "" for m in scores},
            latency_s=(latency[i] if latency else 0.1),
            tokens_in=10,
            tokens_out=5,
            cost_usd=0.0,
        )
        for i in range(n)
    ]
    return RunResult(
        label=label,
        variant={"kind": "local", "model": label},
        identity={"kind": "local", "model": label},
        golden_path="golden.jsonl",
        golden_hash=golden_hash,
        settings={},
        binary_metrics=[m for m in scores if m in binary],
        cases=cases,
    )


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


INTENTS = {
    "card_arrival": [
        "where is my new card",
        "my card has not arrived yet",
        "when will the card arrive",
        "still waiting for my card",
    ],
    "exchange_rate": [
        "what is the exchange rate",
        "how much is the euro rate",
        "exchange rate for dollars",
        "rate to convert pounds",
    ],
}


def chat_rows(n: int, offset: int = 0) -> list[dict[str, Any]]:
    """Rows alternating two intents, with the answer as the assistant's JSON."""
    rows = []
    for i in range(offset, offset + n):
        label = "card_arrival" if i % 2 == 0 else "exchange_rate"
        text = f"{INTENTS[label][(i // 2) % 4]} #{i}"
        rows.append({"id": f"r{i}", "label": label, "text": text})
    return rows


def golden_rows(n: int = 12) -> list[dict[str, Any]]:
    return [
        {"id": r["id"], "messages": [{"role": "user", "content": r["text"]}], "expected": {"intent": r["label"]},
         "tags": [f"intent:{r['label']}"]}
        for r in chat_rows(n, offset=100)
    ]  # fmt: skip
