"""Assistant-only loss masks from the chat template, length strategies, batching."""

from __future__ import annotations

import pytest

from tunewise.errors import DataError
from tunewise.train import data as D


@pytest.fixture(scope="module")
def tok(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def _labelled_text(tok, ex: D.Example) -> str:
    return tok.decode(
        [t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != D.IGNORE]
    )


def test_only_assistant_tokens_carry_loss(tok):
    row = {
        "id": "a",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Hello!"},
        ],
    }
    ex = D.tokenize_sft(tok, row)
    full = tok.apply_chat_template(row["messages"], tokenize=True, return_dict=True)["input_ids"]
    assert ex.input_ids == list(full)  # same tokens as the template's own tokenization
    assert _labelled_text(tok, ex).strip() == "Hello!<|im_end|>"
    # every prompt token is masked
    n_prompt = len(
        tok.apply_chat_template(
            row["messages"][:2], tokenize=True, add_generation_prompt=True, return_dict=True
        )["input_ids"]
    )
    assert all(lab == D.IGNORE for lab in ex.labels[:n_prompt])


def test_weight_zero_turns_are_masked(tok):
    row = {
        "id": "b",
        "messages": [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "WRONG", "weight": 0},
            {"role": "user", "content": "two"},
            {"role": "assistant", "content": "RIGHT"},
        ],
    }
    ex = D.tokenize_sft(tok, row)
    text = _labelled_text(tok, ex)
    assert "RIGHT" in text and "WRONG" not in text


def test_excess_length_strategies_are_counted(tok):
    row = {
        "id": "c",
        "messages": [
            {"role": "user", "content": "word " * 50},
            {"role": "assistant", "content": "ok"},
        ],
    }
    rep = D.LengthReport()
    assert D.fit_length(D.tokenize_sft(tok, row), 20, "drop", rep) is None
    assert rep.dropped == 1 and rep.dropped_ids == ["c"]
    with pytest.raises(DataError, match="max_length 20"):
        D.fit_length(D.tokenize_sft(tok, row), 20, "error", D.LengthReport())
    rep = D.LengthReport()
    # truncation cuts the answer off: nothing left to learn, so the row is set aside and counted
    assert D.fit_length(D.tokenize_sft(tok, row), 20, "truncate", rep) is None
    assert rep.truncated == 1 and rep.no_loss_tokens == 1


def test_length_grouped_batches_are_deterministic_and_tight():
    lengths = [10 + (i * 37) % 90 for i in range(200)]
    a = D.length_grouped_batches(lengths, 8, seed=3)
    assert a == D.length_grouped_batches(lengths, 8, seed=3)
    assert sorted(i for b in a for i in b) == list(range(200))
    padded = sum(max(lengths[i] for i in b) * len(b) for b in a)
    assert padded / sum(lengths) < 1.05
