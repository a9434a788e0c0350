"""Property tests: whatever bytes or JSON a file holds, the loader never crashes and accounts for every line."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunewise.data.config import InputConfig
from tunewise.data.loaders import load_file
from tunewise.data.targets import parse_target, validate_row

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CFG = InputConfig(max_line_kb=2)
TARGETS = [
    parse_target("openai:gpt-4o-mini-2024-07-18"),
    parse_target("bedrock:claude-3-haiku"),
    parse_target("bedrock:llama3.1"),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "bot", 3])},
    optional={
        "content": json_values,
        "weight": json_values,
        "tool_calls": json_values,
        "tool_call_id": json_values,
    },
)
chat_like = st.fixed_dictionaries(
    {"messages": st.lists(message, max_size=5) | json_values},
    optional={"tools": json_values, "provenance": json_values, "tags": json_values},
)
dpo_like = st.fixed_dictionaries(
    {
        "input": st.fixed_dictionaries({"messages": st.lists(message, max_size=3)}) | json_values,
        "preferred_output": st.lists(message, max_size=2) | json_values,
    },
    optional={"non_preferred_output": st.lists(message, max_size=2) | json_values},
)
line_objects = st.one_of(json_values, chat_like, dpo_like)


def _physical_lines(data: bytes) -> int:
    parts = data.split(b"\n")
    return len(parts) - 1 if parts[-1] == b"" else len(parts)


def _load(data: bytes, suffix: str):  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"in{suffix}"
        path.write_bytes(data)
        return load_file(path, CFG), load_file(
            path, InputConfig(max_line_kb=2, use_hf_datasets_above_mb=0)
        )


@SETTINGS
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash_and_every_line_is_accounted_for(data: bytes) -> None:
    res, streamed = _load(data, ".jsonl")
    n = _physical_lines(data)
    assert res.read["in.jsonl"] == n == len(res.rows) + len(res.rejects)
    assert streamed.read == res.read and len(streamed.rows) == len(res.rows)
    assert all(j.reasons and f"in.jsonl line {j.source.line}" in j.reasons[0] for j in res.rejects)


@SETTINGS
@given(
    st.lists(line_objects, max_size=12),
    st.lists(st.sampled_from(["", "{", "\x00", "\u2028", "[]", "1e999999"]), max_size=3),
)
def test_random_json_lines_never_crash_validation_either(objs: list, junk: list[str]) -> None:
    lines = [json.dumps(o) for o in objs] + junk
    data = "\n".join(lines).encode()
    res, _ = _load(data, ".jsonl")
    assert res.read["in.jsonl"] == _physical_lines(data) == len(res.rows) + len(res.rejects)
    for row in res.rows:
        for target in TARGETS:
            assert isinstance(validate_row(row, target), list)
        row.to_json()


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_csv_never_crashes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "in.csv"
        path.write_bytes(b"input,output\n" + data)
        res = load_file(path, CFG)
    assert res.read["in.csv"] == len(res.rows) + len(res.rejects)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            chat_like,
            dpo_like,
            st.just(
                {
                    "messages": [
                        {"role": "user", "content": "a b c"},
                        {"role": "assistant", "content": "ok"},
                    ]
                }
            ),
        ),
        max_size=10,
    )
)
def test_the_whole_check_pipeline_balances_on_random_rows(objs: list) -> None:
    from tunewise.data.config import DataConfig
    from tunewise.data.prepare import check

    cfg = DataConfig.model_validate({"pii": {"engine": "regex"}})
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "in.jsonl"
        path.write_text("".join(json.dumps(o) + "\n" for o in objs))
        result = check([path], cfg)
    assert result.counts["read"] == len(objs) == result.counts["kept"] + result.counts["rejected"]
