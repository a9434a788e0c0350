"""Loading chat, DPO, tabular JSONL and CSV inputs; bad lines become rejects with file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunewise.data.config import InputConfig
from tunewise.data.loaders import load_file, load_files, load_golden
from tunewise.errors import DataError

CHAT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def _write(path: Path, lines: list[bytes | str | dict]) -> Path:
    out = b""
    for line in lines:
        if isinstance(line, dict):
            line = json.dumps(line)
        out += (line.encode() if isinstance(line, str) else line) + b"\n"
    path.write_bytes(out)
    return path


def test_chat_dpo_and_tabular_rows(tmp_path: Path) -> None:
    dpo = {
        "input": {"messages": [{"role": "user", "content": "q"}]},
        "preferred_output": [{"role": "assistant", "content": "good"}],
        "non_preferred_output": [{"role": "assistant", "content": "bad"}],
    }
    dpo_alt = {
        "input": {"messages": [{"role": "user", "content": "q2"}]},
        "preferred_completion": [{"role": "assistant", "content": "good"}],
        "non_preferred_completion": [{"role": "assistant", "content": "bad"}],
    }
    tab = {
        "input": "where is my parcel",
        "output": '{"intent": "shipping"}',
        "provenance": "synthetic",
        "intent": "shipping",
    }
    f = _write(tmp_path / "mix.jsonl", [CHAT, dpo, dpo_alt, tab])
    res = load_file(f, InputConfig(system_prompt="Classify.", tag_columns=["intent"]))
    assert res.read == {"mix.jsonl": 4} and not res.rejects
    chat, d1, d2, t = res.rows
    assert chat.messages[0] == {"role": "system", "content": "Classify."}  # prepended when missing
    assert d1.kind == d2.kind == "dpo" and d2.preferred_output == [
        {"role": "assistant", "content": "good"}
    ]
    assert [m["role"] for m in t.messages] == ["system", "user", "assistant"]
    assert t.provenance == "synthetic" and t.tags == ["intent:shipping"]
    assert chat.source.line == 1 and t.source.line == 4


def test_every_bad_line_is_a_reject_with_line_and_reason(tmp_path: Path) -> None:
    lines: list[bytes | str | dict] = [
        CHAT,
        "",  # empty
        "not json",
        "[1, 2]",
        b"\xff\xfe{}",  # invalid UTF-8
        '{"a": NaN}',
        '{"x": "\\ud800"}',  # lone surrogate escape
        {"messages": "hello"},
        {"messages": [1]},
        {"input": "x", "preferred_output": []},
        {"foo": 1},
        {**CHAT, "provenance": "robot"},
        {**CHAT, "tags": [1]},
        "[" * 100_000,  # nested too deeply
        "x" * 5000,  # longer than max_line_kb below
    ]
    f = _write(tmp_path / "bad.jsonl", lines)
    res = load_file(f, InputConfig(max_line_kb=4))
    assert res.read["bad.jsonl"] == len(lines) == len(res.rows) + len(res.rejects)
    assert len(res.rows) == 1
    by_line = {j.source.line: j.reasons[0] for j in res.rejects}
    assert by_line[2] == "bad.jsonl line 2: empty line; remove it"
    assert "not valid JSON" in by_line[3]
    assert "expected a JSON object, got an array" in by_line[4]
    assert "invalid UTF-8 at byte 0" in by_line[5]
    assert "NaN" in by_line[6]
    assert "surrogate" in by_line[7]
    assert "messages: expected an array" in by_line[8]
    assert "messages[0]: expected a message object" in by_line[9]
    assert "input: expected an object" in by_line[10]
    assert "unknown row shape" in by_line[11]
    assert "provenance: 'robot'" in by_line[12]
    assert "tags:" in by_line[13]
    assert "longer than 4 KiB" in by_line[15]


def test_streaming_path_matches_in_memory(tmp_path: Path) -> None:
    lines: list[bytes | str | dict] = [
        CHAT,
        "",
        b"\xc3(",
        {**CHAT, "tags": ["a"]},
        "y" * 9000,
        CHAT,
    ]
    f = _write(tmp_path / "s.jsonl", lines)
    mem = load_file(f, InputConfig(max_line_kb=8))
    stream = load_file(f, InputConfig(max_line_kb=8, use_hf_datasets_above_mb=0))
    assert [r.to_json() for r in mem.rows] == [r.to_json() for r in stream.rows]
    assert [j.to_json()["reasons"] for j in mem.rejects] == [
        j.to_json()["reasons"] for j in stream.rejects
    ]


def test_crlf_bom_and_no_trailing_newline(tmp_path: Path) -> None:
    f = tmp_path / "w.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps(CHAT).encode() + b"\r\n" + json.dumps(CHAT).encode())
    res = load_file(f, InputConfig())
    assert res.read["w.jsonl"] == 2 and len(res.rows) == 2 and not res.rejects


def test_repeated_rows_get_unique_ids(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", [CHAT, CHAT])
    b = _write(tmp_path / "b.jsonl", [CHAT])
    res = load_files([a, b], InputConfig())
    ids = [r.id for r in res.rows]
    assert len(set(ids)) == 3 and ids[1] == ids[0] + "-2" and ids[2] == ids[0] + "-3"
    assert res.total_read == 3


def test_csv_with_tags_provenance_and_bad_records(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_bytes(
        b"text,category,provenance\n"
        b'"card, not arrived",card_arrival,human\n'
        b'"multi\nline",top_up,synthetic\n'
        b"only-one-column\n"
        b"bad \xff byte,x,human\n"
        b",,\n"
        b"ok,exchange_rate,\n"
    )
    cfg = InputConfig(
        input_column="text",
        output_column="category",
        tag_columns=["category"],
        system_prompt="Label it.",
    )
    res = load_file(f, cfg)
    assert res.read["t.csv"] == 6 == len(res.rows) + len(res.rejects)
    assert [r.source.line for r in res.rows] == [1, 2, 6]
    assert (
        res.rows[1].messages[1]["content"] == "multi\nline"
        and res.rows[1].provenance == "synthetic"
    )
    assert res.rows[0].tags == ["category:card_arrival"]
    reasons = {j.source.line: j.reasons[0] for j in res.rejects}
    assert "expected 3 columns" in reasons[3]
    assert "invalid UTF-8" in reasons[4]
    assert "empty record" in reasons[5]


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_file(tmp_path / "nope.jsonl", InputConfig())


def test_golden_files_are_read_by_the_one_golden_reader(tmp_path: Path) -> None:
    """`data prepare` and `eval` accept the same golden files and see the same cases."""
    from tunewise.evaluate.golden import load_golden as eval_golden

    g = _write(
        tmp_path / "g.jsonl",
        [
            {
                "id": "g-1",
                "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
                "expected": {"intent": "a"},
                "tags": ["safety"],
                "provenance": "production",
            },
            "",
            {"id": "g-2", "messages": [{"role": "user", "content": "q2"}], "expected": "text"},
        ],
    )
    rows, cases = load_golden(g), eval_golden(g).cases
    assert [r.id for r in rows] == [c.id for c in cases] == ["g-1", "g-2"]
    assert [r.prompt_messages() for r in rows] == [c.messages for c in cases]
    assert [r.answer() for r in rows] == [c.expected_text() for c in cases]
    assert [r.tags for r in rows] == [c.tags for c in cases] == [["safety"], []]
    assert [(r.source.line, r.provenance) for r in rows] == [(1, "production"), (3, "human")]

    # Chat rows (the answer as a final assistant turn), a missing id, unknown keys: refused by both,
    # with the same message naming every line.
    bad = _write(tmp_path / "bad.jsonl", [CHAT, {"messages": [], "expected": 1, "x": 2}, "nope"])
    errors = []
    for read in (load_golden, eval_golden):
        with pytest.raises(DataError) as err:
            read(bad)
        errors.append(str(err.value))
    assert errors[0] == errors[1]
    assert "7 problem(s)" in errors[0]  # all of them at once, several per line
    for expected in ("line 1: 'id'", "line 1: the last message is an assistant", "line 2: 'messages'",
                     "line 2: unknown key(s) ['x']", "line 3: invalid JSON"):  # fmt: skip
        assert expected in errors[0], errors[0]


def test_parquet_goes_through_hf_datasets(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    weighted = {"role": "assistant", "content": "a", "weight": 1}
    table = pa.table(
        {
            "messages": [
                [{"role": "user", "content": "hi"}, weighted],
                [{"role": "user", "content": "yo"}, {"role": "assistant", "content": "b"}],
            ],
            "provenance": ["production", None],
        }
    )
    pq.write_table(table, tmp_path / "d.parquet")
    res = load_file(tmp_path / "d.parquet", InputConfig())
    assert res.read == {"d.parquet": 2} and not res.rejects
    assert res.rows[0].provenance == "production" and res.rows[1].provenance == "human"
    assert res.rows[1].messages[1] == {
        "role": "assistant",
        "content": "b",
    }  # no weight: null added by Arrow
