"""Deduplication: planted exact and near duplicates are found, unrelated rows are not."""

from __future__ import annotations

import random

import numpy as np

from tunewise.data.config import DedupConfig
from tunewise.data.dedup import cross_duplicates, find_duplicates, lsh_params, signatures
from tunewise.data.schema import Row, Source

WORDS = [
    f"{a}{b}"
    for a in ("ka", "lo", "mi", "nu", "po", "ra", "si", "tu")
    for b in ("b", "d", "g", "k", "m", "n", "r", "t", "v", "z")
]


def chat(user: str, answer: str, line: int, file: str = "tickets.jsonl") -> Row:
    return Row(
        messages=[
            {"role": "system", "content": "sys"},
            {"role": "user", "content": user},
            {"role": "assistant", "content": answer},
        ],
        source=Source(file, line),
    )


def corpus(n: int, seed: int = 0) -> list[Row]:
    rng = random.Random(seed)
    return [
        chat(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 40))), f"label {i % 5}", i + 1
        )
        for i in range(n)
    ]


def test_planted_exact_and_near_duplicates() -> None:
    rows = corpus(300)
    exact = chat(
        "  " + rows[10].messages[1]["content"].upper() + "!!", "Label 0", 301
    )  # same after normalizing
    near = chat("tuz " + rows[20].messages[1]["content"], "label 0", 302)  # one extra word
    rows += [exact, near]
    result = find_duplicates(rows, DedupConfig())
    assert result.dropped == {
        exact.id: f"exact duplicate of {rows[10].id} (tickets.jsonl line 11)",
        near.id: result.dropped[near.id],
    }
    assert result.dropped[near.id].startswith("near-duplicate (J≈0.9")
    assert result.dropped[near.id].endswith(f"of {rows[20].id} (tickets.jsonl line 21)")
    assert (result.exact, result.near) == (1, 1)
    assert result.clusters == [[rows[10].id, exact.id], [rows[20].id, near.id]]


def test_flags_turn_steps_off_and_threshold_matters() -> None:
    rows = corpus(50)
    rows.append(chat(rows[3].messages[1]["content"], "label 3", 51))
    assert find_duplicates(rows, DedupConfig(exact=False, near=False)).dropped == {}
    only_near = find_duplicates(rows, DedupConfig(exact=False))
    assert only_near.exact == 0 and only_near.near == 1  # identical text is also a near-duplicate
    half = " ".join(rows[7].messages[1]["content"].split()[:12])
    rows.append(chat(half + " " + " ".join(WORDS[:12]), "label 2", 52))
    assert find_duplicates(rows, DedupConfig(threshold=0.95)).near == 0


def test_no_chaining_rows_are_compared_with_kept_rows_only() -> None:
    base = [f"w{i}" for i in range(40)]
    q = [f"q{i}" for i in range(6)]
    a = chat(" ".join(base), "", 1)
    b = chat(" ".join(base[:34] + q), "", 2)  # J(a, b) ~ 0.73
    c = chat(
        " ".join(base[:28] + q + [f"z{i}" for i in range(6)]), "", 3
    )  # J(b, c) ~ 0.65, J(a, c) ~ 0.52
    result = find_duplicates([a, b, c], DedupConfig(threshold=0.6))
    assert list(result.dropped) == [b.id]  # c resembles the dropped b, not the kept a: c stays
    assert result.clusters == [[a.id, b.id]]


def test_deterministic_signatures_and_params() -> None:
    texts = ["alpha beta gamma delta", "alpha beta gamma delta", "x", ""]
    s1, has = signatures(texts, 64, 3)
    s2, _ = signatures(texts, 64, 3)
    assert np.array_equal(s1, s2) and list(has) == [True, True, True, False]
    assert (s1[0] == s1[1]).all() and not (s1[0] == s1[2]).all()
    bands, r = lsh_params(0.85, 64)
    assert bands * r <= 64


def test_cross_duplicates_for_leakage() -> None:
    golden = corpus(20, seed=1)
    for g in golden:
        g.source = Source("golden.jsonl", g.source.line)
    train = corpus(100, seed=2)
    copied = chat(
        golden[4].messages[1]["content"], "other answer", 101
    )  # prompt leak, different answer
    close = chat("tuz " + golden[6].messages[1]["content"], "label 1", 102)
    out = cross_duplicates([*train, copied, close], golden, DedupConfig(), label="golden")
    assert (
        out[copied.id]
        == f"leak: exact duplicate of golden row {golden[4].id} (golden.jsonl line 5)"
    )
    assert out[close.id].startswith("leak: near-duplicate (J≈0.9")
    assert set(out) == {copied.id, close.id}


def test_no_false_near_duplicates_at_20k_rows() -> None:
    # Speed is measured in bench/data_prepare.py; here: distinct rows at scale stay distinct.
    rows = corpus(20_000, seed=3)
    result = find_duplicates(rows, DedupConfig())
    assert result.near == 0
