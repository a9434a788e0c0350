"""Small real datasets for the classifier tests: the support-intent example's clean rows, Banking77."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "support-intent"


def example_schema() -> dict[str, Any]:
    cfg = yaml.safe_load((EXAMPLE / "tunewise.yaml").read_text())
    return cfg["data"]["quality"]["output_json_schema"]


def clean_tickets(out: Path) -> Path:
    """The example's training rows whose answer is valid against its schema (the file has planted defects)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(example_schema())
    rows = []
    for raw in (EXAMPLE / "data" / "tickets.jsonl").read_bytes().splitlines():
        try:
            row = json.loads(raw.decode("utf-8"))
            answer = json.loads(row["messages"][-1]["content"])
        except (UnicodeDecodeError, ValueError, KeyError, IndexError, TypeError):
            continue
        if validator.is_valid(answer):
            rows.append(row)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return out


def banking77_split(
    csv_path: Path, out: Path, intents: int = 10, train: int = 20, held_out: int = 10
) -> tuple[Path, Path]:
    """train.jsonl (chat rows, the intent as the answer) and golden.jsonl from disjoint rows."""
    by: dict[str, list[str]] = {}
    with open(csv_path, encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            by.setdefault(r["category"], []).append(r["text"])
    labels = sorted(by)[:intents]
    system = {
        "role": "system",
        "content": "Classify the banking query. Answer with the intent name only.",
    }
    train_rows, golden = [], []
    for lab in labels:
        for i, text in enumerate(by[lab][: train + held_out]):
            user = {"role": "user", "content": text}
            if i < train:
                train_rows.append(
                    {"messages": [system, user, {"role": "assistant", "content": lab}]}
                )
            else:
                golden.append(
                    {
                        "id": f"{lab}-{i}",
                        "messages": [system, user],
                        "expected": lab,
                        "tags": [f"intent:{lab}"],
                    }
                )
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", train_rows), ("golden.jsonl", golden)):
        (out / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return out / "train.jsonl", out / "golden.jsonl"
