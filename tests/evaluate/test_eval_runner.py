"""Local generation and the runner on the tiny model: batching, adapters, the cache, few-shot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from eval_helpers import golden_rows, write_jsonl

from tunewise.errors import ModelError
from tunewise.evaluate.api import scorers_from_config
from tunewise.evaluate.backends import Settings
from tunewise.evaluate.config import EvalConfig
from tunewise.evaluate.golden import load_golden
from tunewise.evaluate.runner import run_eval
from tunewise.evaluate.variants import Variant
from tunewise.infer import generate


def test_batched_generation_matches_sequential(tiny_model: Path) -> None:
    msgs = [
        [{"role": "user", "content": r["messages"][0]["content"] + " " * (i % 3) + "x" * i}]
        for i, r in enumerate(golden_rows(6))
    ]
    seq = generate(msgs, str(tiny_model), max_new_tokens=8, batch_size=1)
    batched = generate(msgs, str(tiny_model), max_new_tokens=8, batch_size=4)
    assert [g.text for g in batched] == [g.text for g in seq]
    assert all(g.tokens_out <= 8 and g.tokens_in > 0 for g in batched)


def test_adapter_on_another_base_is_refused(
    tiny_model: Path, tiny_adapter: Path, tmp_path: Path
) -> None:
    moved = shutil.copytree(tiny_adapter, tmp_path / "adapter")
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["base_model"]["hash"] = "0" * 64
    (moved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="hash"):
        generate([[{"role": "user", "content": "hi"}]], str(tiny_model), moved, max_new_tokens=2)


def test_rerun_is_served_from_the_cache(tiny_model: Path, tmp_path: Path) -> None:
    golden = load_golden(write_jsonl(tmp_path / "golden.jsonl", golden_rows(8)))
    variant = Variant(model=str(tiny_model))
    scorers = scorers_from_config(EvalConfig())
    first = run_eval(
        golden, variant, scorers, Settings(max_new_tokens=8, batch_size=4), progress=False
    )
    again = run_eval(
        golden, variant, scorers, Settings(max_new_tokens=8, batch_size=2), progress=False
    )
    assert first.cache_hits == 0 and again.cache_hits == 8
    assert [c.output for c in again.cases] == [c.output for c in first.cases]
    assert all(c.cached for c in again.cases)
    # A different budget is a different request: no hits.
    other = run_eval(golden, variant, scorers, Settings(max_new_tokens=4), progress=False)
    assert other.cache_hits == 0
    assert first.identity["base_hash"] and set(first.cases[0].scores) >= {
        "exact_match",
        "json_valid",
        "grounding",
    }


def test_few_shot_prompts_carry_nearest_examples(tiny_model: Path, tmp_path: Path) -> None:
    from tunewise.evaluate.fewshot import select_examples, with_examples
    from tunewise.evaluate.variants import PromptStrategy

    train = [("where is my card", '{"intent": "card_arrival"}'), ("exchange rate today", '{"intent": "exchange_rate"}'),
             ("close my account", '{"intent": "close"}')]  # fmt: skip
    golden = load_golden(write_jsonl(tmp_path / "golden.jsonl", golden_rows(2)))
    picked = select_examples(golden.cases, train, PromptStrategy(few_shot=1))
    assert picked[0][0][0] == "where is my card"  # case 0 asks about a card
    assert picked[1][0][0] == "exchange rate today"
    rand = select_examples(
        golden.cases, train, PromptStrategy(few_shot=2, selection="random", seed=4)
    )
    assert rand == select_examples(
        golden.cases, train, PromptStrategy(few_shot=2, selection="random", seed=4)
    )
    msgs = with_examples(
        [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}], picked[0]
    )
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    # Through the runner: the train file is read and the prompts grow.
    rows = [
        {"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]}
        for u, a in train
    ]
    variant = Variant(
        model=str(tiny_model),
        prompt=PromptStrategy(few_shot=2, train=str(write_jsonl(tmp_path / "train.jsonl", rows))),
    )
    run = run_eval(
        golden,
        variant,
        scorers_from_config(EvalConfig()),
        Settings(max_new_tokens=2),
        progress=False,
    )
    zero = run_eval(
        golden,
        Variant(model=str(tiny_model)),
        scorers_from_config(EvalConfig()),
        Settings(max_new_tokens=2),
        progress=False,
    )
    assert all(a.tokens_in > b.tokens_in + 10 for a, b in zip(run.cases, zero.cases, strict=True))
