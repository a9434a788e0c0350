"""Quality rules: each rule fires on a crafted bad row and stays quiet on a good one."""

from __future__ import annotations

import json
from typing import Any

from tunewise.data.config import QualityConfig
from tunewise.data.quality import check_row, find_conflicts
from tunewise.data.schema import Row, Source

SYSTEM = "Classify the ticket. Intents: refund, billing. Priorities: low, high. Answer in JSON."
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["intent", "priority"],
    "properties": {
        "intent": {"enum": ["refund", "billing"]},
        "priority": {"enum": ["low", "high"]},
        "order_id": {"type": "string"},
    },
}


def row(user: str, answer: Any, line: int = 1, system: str | None = SYSTEM) -> Row:
    content = answer if isinstance(answer, str) else json.dumps(answer)
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user},
        {"role": "assistant", "content": content},
    ]
    return Row(messages=msgs, source=Source("tickets.jsonl", line))


GOOD = row(
    "Refund my order ORD-48213 please",
    {"intent": "refund", "priority": "high", "order_id": "ORD-48213"},
)


def test_good_row_passes_every_rule() -> None:
    cfg = QualityConfig(
        output_json_schema=SCHEMA, output_regex=r"\{.*\}", require_system_prompt=True
    )
    assert check_row(GOOD, cfg) == []


def test_length_bounds() -> None:
    assert check_row(row("hi", ""), QualityConfig()) == ["answer is 0 chars (min 1)"]
    assert check_row(row("hi", "x" * 30), QualityConfig(max_response_chars=20)) == [
        "answer is 30 chars (max 20)"
    ]


def test_refusal_and_hallucination_markers() -> None:
    reasons = check_row(
        row("hi", "As an AI language model, I can’t do that."), QualityConfig(grounding=False)
    )
    assert reasons == ["refusal marker 'as an ai language model' in answer"]
    reasons = check_row(row("hi", "As of my last update the price was low."), QualityConfig())
    assert reasons == ["hallucination marker 'as of my last update' in answer"]


def test_output_regex() -> None:
    cfg = QualityConfig(output_regex=r"(refund|billing)")
    assert check_row(row("hi", "refund"), cfg) == []
    assert check_row(row("hi", "refund now"), cfg) == ["answer does not match output_regex"]


def test_json_schema_rules() -> None:
    cfg = QualityConfig(output_json_schema=SCHEMA)
    assert check_row(row("hi", "Intent: refund"), cfg)[0].startswith("answer is not valid JSON: ")
    reasons = check_row(row("hi", {"intent": "refund", "priority": "urgent"}), cfg)
    assert reasons == [
        "answer JSON fails schema at $.priority: 'urgent' is not one of ['low', 'high']"
    ]
    assert check_row(row("hi", {"intent": "refund"}), cfg) == [
        "answer JSON fails schema at $: 'priority' is a required property"
    ]


def test_schema_from_file_is_compiled_once(tmp_path: Any) -> None:
    path = tmp_path / "answer.schema.json"
    path.write_text(json.dumps(SCHEMA))
    cfg = QualityConfig(output_json_schema=str(path))
    assert check_row(GOOD, cfg) == []
    path.unlink()  # cached per config object: no second read
    assert check_row(row("hi", {"intent": "x", "priority": "low"}), cfg)[0].startswith(
        "answer JSON fails schema at $.intent"
    )


def test_system_prompt_rule() -> None:
    cfg = QualityConfig(require_system_prompt=True)
    assert check_row(row("hi", "ok", system=None), cfg) == ["no system message"]
    assert check_row(row("hi", "ok", system=None), QualityConfig()) == []


def test_grounding_rule() -> None:
    bad = row(
        "My parcel never arrived", {"intent": "refund", "priority": "high", "order_id": "ORD-48213"}
    )
    assert check_row(bad, QualityConfig()) == [
        "ungrounded: 'ORD-48213' appears in the answer but nowhere in the system or user turns"
    ]
    assert check_row(bad, QualityConfig(grounding=False)) == []
    assert check_row(bad, QualityConfig(grounding_allow=["ORD-48213"])) == []


def test_tool_call_answer_skips_answer_rules() -> None:
    msgs = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
            ],
        },
    ]
    assert check_row(Row(messages=msgs, source=Source("t.jsonl", 1)), QualityConfig()) == []


def test_conflicting_labels_reject_the_whole_group() -> None:
    a = row("Refund  please!", {"intent": "refund", "priority": "low"}, line=3)
    b = row("refund please!", {"intent": "billing", "priority": "low"}, line=9)
    same = row(
        "Refund please!", '{"priority": "low", "intent": "refund"}', line=12
    )  # same answer as a
    other = row("Where is my invoice?", {"intent": "billing", "priority": "low"}, line=20)
    out = find_conflicts([a, b, same, other])
    assert set(out) == {a.id, b.id, same.id}
    assert out[a.id].startswith(
        'conflicting label: same input as tickets.jsonl line 9 answers \'{"intent": "billing"'
    )
    assert "line 3" in out[b.id] and "line 12" in out[b.id]
    assert find_conflicts([a, same, other]) == {}
