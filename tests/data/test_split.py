"""Deterministic stratified split, golden format and the leakage check."""

from __future__ import annotations

import json
import random

from tunewise.data.config import DedupConfig, SplitConfig
from tunewise.data.schema import Row, Source
from tunewise.data.split import (
    assign_splits,
    label_distribution,
    remove_leakage,
    stratum_of,
    to_golden,
)

INTENTS = ["billing", "refund", "shipping", "login"]


def _rows(n: int) -> list[Row]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        intent = INTENTS[i % len(INTENTS)] if i % 10 else "rare" if i < 20 else INTENTS[0]
        words = " ".join(f"w{rng.randint(0, 10**6)}" for _ in range(8))
        out.append(
            Row(
                [
                    {"role": "user", "content": f"ticket {i} {words}"},
                    {"role": "assistant", "content": json.dumps({"intent": intent})},
                ],
                Source("t.jsonl", i + 1),
                tags=[f"intent:{intent}"],
            )
        )
    return out


def _ids(rows: list[Row]) -> list[str]:
    return [r.id for r in rows]


def test_split_is_deterministic_and_independent_of_input_order() -> None:
    rows = _rows(400)
    cfg = SplitConfig(validation=0.1, golden=0.1, stratify_by="json:intent", seed=3)
    a = assign_splits(rows, cfg)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    b = assign_splits(shuffled, cfg)
    assert (_ids(a.train), _ids(a.validation), _ids(a.golden)) == (
        _ids(b.train),
        _ids(b.validation),
        _ids(b.golden),
    )
    c = assign_splits(
        rows, SplitConfig(validation=0.1, golden=0.1, stratify_by="json:intent", seed=4)
    )
    assert set(_ids(c.golden)) != set(_ids(a.golden))
    assert len(a.train) + len(a.validation) + len(a.golden) == 400
    assert not set(_ids(a.train)) & set(_ids(a.golden))


def test_split_is_stratified_and_tiny_strata_stay_in_train() -> None:
    rows = _rows(400)
    split = assign_splits(rows, SplitConfig(validation=0.1, golden=0.1, stratify_by="intent"))
    full = label_distribution(rows, "intent")
    gold = label_distribution(split.golden, "intent")
    for label, n in full.items():
        if n >= 10:
            assert abs(gold.get(label, 0) - n * 0.1) <= 1, label
    assert full["rare"] == 2 and "rare" not in gold
    assert label_distribution(split.train, "intent")["rare"] >= 1


def test_no_golden_when_the_user_brings_one() -> None:
    split = assign_splits(_rows(100), SplitConfig(validation=0.2, golden=0.1), make_golden=False)
    assert not split.golden and len(split.validation) == 20


def test_stratum_of_json_field_and_tag() -> None:
    row = _rows(2)[1]
    assert stratum_of(row, "json:intent") == "refund" and stratum_of(row, "intent") == "refund"
    assert stratum_of(row, "json:missing") == "(none)" and stratum_of(row, None) == "(none)"


def test_leakage_removes_exact_and_near_duplicates_from_train() -> None:
    rows = _rows(200)
    split = assign_splits(rows, SplitConfig(validation=0.1, golden=0.1))
    gold = split.golden[0]
    near_text = gold.messages[0]["content"] + " please"
    exact = Row(
        [dict(gold.messages[0]), {"role": "assistant", "content": "other"}], Source("t.jsonl", 900)
    )
    near = Row(
        [{"role": "user", "content": near_text}, {"role": "assistant", "content": "x"}],
        Source("t.jsonl", 901),
    )
    external = Row(
        [{"role": "user", "content": split.train[0].messages[0]["content"]}], Source("g.jsonl", 1)
    )
    victim = split.train[0].id
    split.train += [exact, near]
    out = remove_leakage(split, [external], DedupConfig(threshold=0.6))
    assert {exact.id, near.id, victim} <= set(out.leaked)
    assert "golden row" in out.leaked[exact.id] and "g.jsonl line 1" in out.leaked[victim]
    assert not {exact.id, near.id, victim} & set(_ids(out.train))


def test_golden_format() -> None:
    row = Row(
        [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": '{"intent": "refund"}'},
        ],
        Source("t.jsonl", 4),
        tags=["safety"],
    )
    g = to_golden(row, "json:intent")
    assert g["messages"] == row.messages[:2] and g["expected"] == {"intent": "refund"}
    assert g["tags"] == ["intent:refund", "safety"] and g["source"] == {
        "file": "t.jsonl",
        "line": 4,
    }
    plain = Row(
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "42"}],
        Source("t.jsonl", 5),
    )
    assert to_golden(plain)["expected"] == "42"
