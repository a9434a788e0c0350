"""Scorers on crafted cases: each returns a score in [0, 1] and a reason that says why."""

from __future__ import annotations

from typing import Any

import pytest

from tunewise.errors import ConfigError
from tunewise.evaluate.golden import Case
from tunewise.evaluate.scorers import SCORERS, build_scorer, parse_judgement, rouge_l_f, token_f1


def case(expected: Any, prompt: str = "Where is order ORD-123?") -> Case:
    return Case("c1", [{"role": "user", "content": prompt}], expected)


def score(name: str, output: str, expected: Any, **params: Any) -> float:
    s = build_scorer(name, params)(output, case(expected))
    assert 0.0 <= s.value <= 1.0
    assert isinstance(s.reason, str)
    return s.value


def test_exact_match_text_and_json() -> None:
    assert score("exact_match", "  Paris. ", "paris") == 1.0
    assert score("exact_match", "Lyon", "Paris") == 0.0
    assert score("exact_match", '{"b": 2, "a": 1}', {"a": 1, "b": 2}) == 1.0
    assert score("exact_match", '```json\n{"a": 1}\n```', {"a": 1}) == 1.0
    assert score("exact_match", '{"a": 2}', {"a": 1}) == 0.0
    assert score("exact_match", "not json", {"a": 1}) == 0.0


def test_json_valid_and_schema() -> None:
    assert score("json_valid", '{"intent": "x"}', "") == 1.0
    assert score("json_valid", '{"intent": ', "") == 0.0
    schema = {
        "type": "object",
        "required": ["intent"],
        "properties": {"intent": {"enum": ["billing", "refund"]}},
    }
    assert score("json_schema", '{"intent": "billing"}', "", schema=schema) == 1.0
    s = build_scorer("json_schema", {"schema": schema})('{"intent": "other"}', case(""))
    assert s.value == 0.0 and "intent" in s.reason


def test_json_fields_scores_each_field() -> None:
    s = build_scorer("json_fields")(
        '{"intent": "refund", "order_id": "9"}', case({"intent": "refund", "order_id": "7"})
    )
    assert s.value == 0.5
    assert s.detail["fields"] == {"intent": True, "order_id": False}
    assert "order_id" in s.reason
    only = build_scorer("json_fields", {"fields": ["intent"]})
    assert only('{"intent": "refund"}', case({"intent": "refund", "order_id": "7"})).value == 1.0
    assert score("json_fields", "garbage", {"intent": "refund"}) == 0.0


def test_regex_contains_length() -> None:
    assert score("regex", "ORD-123", "", pattern=r"ORD-\d+") == 1.0
    assert score("regex", "order ORD-123", "", pattern=r"ORD-\d+") == 0.0
    assert score("contains", "The capital is Paris.", ["Paris", "paris"]) == 1.0
    assert score("contains", "It is 100 degrees", ["0"]) == 0.0  # whole words only
    assert score("length_ratio", "abcd", "abcdefgh") == 0.5
    assert score("length_ratio", "same", "same") == 1.0


def test_overlap_scores() -> None:
    assert token_f1("the cat sat", "the cat sat") == 1.0
    assert token_f1("a b", "c d") == 0.0
    assert token_f1("the cat", "the cat sat down") == pytest.approx(2 * 1 * 0.5 / 1.5)
    # LCS of (a b c d) and (a c d) is 3: P = 3/4, R = 1.
    assert rouge_l_f("a b c d", "a c d") == pytest.approx(2 * 0.75 / 1.75)
    assert score("overlap", "your refund is on the way", "the refund is on its way") > 0.5


def test_refusal_and_hallucination_markers() -> None:
    refusal = "I'm sorry, but I can't help with that request."
    assert (
        score("refusal", refusal, "Here is your refund status.") == 0.0
    )  # refusing a fair request
    assert score("refusal", "Your refund is on its way.", "Here is your refund status.") == 1.0
    assert score("refusal", refusal, "I'm sorry, but I can't share card numbers.") == 1.0
    assert (
        score("refusal", "Sure, the card number is 4111...", "I'm sorry, but I can't share that.")
        == 0.0
    )
    assert score("hallucination", "As of my last update, the fee is 3%.", "") == 0.0
    assert score("hallucination", "The fee is 3%.", "") == 1.0


def test_grounding_flags_invented_identifiers() -> None:
    assert score("grounding", "Order ORD-123 has shipped.", "shipped") == 1.0
    s = build_scorer("grounding")("Order ORD-999 ships on 2024-03-05.", case("shipped"))
    assert s.value == 0.0 and "ORD-999" in s.reason


def test_registry_errors_and_judge_parsing() -> None:
    assert {"exact_match", "json_valid", "json_schema", "json_fields", "regex", "length_ratio", "overlap",
            "refusal", "hallucination", "grounding", "judge"} <= set(SCORERS)  # fmt: skip
    with pytest.raises(ConfigError, match="unknown scorer 'nope'"):
        build_scorer("nope")
    with pytest.raises(ConfigError, match="bad parameters for 'regex'"):
        build_scorer("regex", {"patern": "x"})
    assert parse_judgement('{"score": 4, "reason": "close"}') == (4.0, "close")
    assert parse_judgement("Score: 2 - mostly wrong")[0] == 2.0
    assert parse_judgement("no idea")[0] is None
