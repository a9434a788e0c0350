"""The baseline's check that golden answers fit eval.max_new_tokens (else they are cut and scored
wrong for every generated variant, while the classifier is not)."""

from __future__ import annotations

import json
from pathlib import Path

from tunewise.data.tokens import base_tokenizer
from tunewise.pipeline.answer_budget import cut_answers

LONG = "balance_not_updated_after_cheque_or_cash_deposit"


def _golden(tmp_path: Path, answers: list[str]) -> Path:
    path = tmp_path / "golden.jsonl"
    rows = [{"id": f"c{i}", "messages": [{"role": "user", "content": "q"}], "expected": a}
            for i, a in enumerate(answers)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_names_the_cut_cases_and_the_budget_they_need(tmp_path: Path, tiny_model: Path) -> None:
    golden = _golden(tmp_path, ["age_limit", LONG, LONG])
    need = len(base_tokenizer(str(tiny_model))(LONG, add_special_tokens=False)["input_ids"])
    warning = cut_answers(golden, str(tiny_model), need - 1)
    assert warning is not None
    assert "2 of 3 golden answers" in warning and f"at least {need}" in warning
    assert "case c1" in warning
    assert cut_answers(golden, str(tiny_model), need) is None


def test_a_base_without_a_local_tokenizer_is_not_checked(tmp_path: Path) -> None:
    golden = _golden(tmp_path, [LONG])
    assert cut_answers(golden, str(tmp_path / "no-such-model"), 1) is None
