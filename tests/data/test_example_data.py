"""The bundled support-intent example: deterministic, and every planted defect is really there."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tunewise.config import load_config
from tunewise.data.config import DataConfig, PIIConfig
from tunewise.data.dedup import cross_duplicates, find_duplicates
from tunewise.data.pii import scrub
from tunewise.data.quality import check_row, find_conflicts
from tunewise.data.schema import Row, Source

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-intent"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate_data", EXAMPLE / "generate_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cfg() -> DataConfig:
    return load_config(EXAMPLE / "tunewise.yaml").data


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return (EXAMPLE / "data" / "tickets.jsonl").read_bytes().split(b"\n")[:-1]


@pytest.fixture(scope="module")
def defects() -> dict[int, str]:
    return {
        int(k): v for k, v in json.loads((EXAMPLE / "data" / "defects.json").read_text()).items()
    }


@pytest.fixture(scope="module")
def rows(lines: list[bytes]) -> dict[int, Row]:
    out = {}
    for n, raw in enumerate(lines, start=1):
        try:
            obj = json.loads(raw.decode("utf-8"))
        except ValueError:
            continue
        if isinstance(obj, dict):
            out[n] = Row(
                messages=obj["messages"],
                source=Source("tickets.jsonl", n),
                provenance=obj["provenance"],
                id=f"line-{n}",
            )
    return out


def test_generator_is_deterministic_and_committed_files_are_current(tmp_path: Path) -> None:
    gen = _generator()
    gen.main(tmp_path / "a")
    gen.main(tmp_path / "b")
    for name in ("tickets.jsonl", "golden.jsonl", "defects.json"):
        first = (tmp_path / "a" / name).read_bytes()
        assert first == (tmp_path / "b" / name).read_bytes()
        assert first == (EXAMPLE / "data" / name).read_bytes(), (
            f"rerun examples/support-intent/generate_data.py ({name})"
        )


def test_every_defect_kind_is_planted(defects: dict[int, str]) -> None:
    kinds = Counter(defects.values())
    for kind in (
        "exact_duplicate",
        "near_duplicate",
        "pii",
        "wrong_format_not_json",
        "wrong_format_bad_intent",
        "wrong_format_bad_priority",
        "ungrounded",
        "conflicting_label",
        "refusal",
        "empty_answer",
        "bad_role",
        "no_system_prompt",
        "broken_json",
        "invalid_utf8",
        "not_an_object",
    ):
        assert kinds[kind] >= 1, kind
    assert kinds["conflicting_label"] == 2


def test_broken_lines(lines: list[bytes], defects: dict[int, str]) -> None:
    for n, kind in defects.items():
        raw = lines[n - 1]
        if kind == "invalid_utf8":
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
        elif kind == "broken_json":
            with pytest.raises(ValueError):
                json.loads(raw)
        elif kind == "not_an_object":
            assert not isinstance(json.loads(raw), dict)
        elif kind == "bad_role":
            assert {m["role"] for m in json.loads(raw)["messages"]} - {
                "system",
                "user",
                "assistant",
                "tool",
            }
        elif kind == "exact_duplicate":
            assert raw in lines[: n - 1]


def test_quality_rules_fire_exactly_on_planted_rows(
    cfg: DataConfig, rows: dict[int, Row], defects: dict[int, str]
) -> None:
    expected = {
        "wrong_format_not_json": "answer is not valid JSON",
        "wrong_format_bad_intent": "answer JSON fails schema at $.intent",
        "wrong_format_bad_priority": "answer JSON fails schema at $.priority",
        "ungrounded": "ungrounded: 'ORD-",
        "refusal": "refusal marker",
        "empty_answer": "answer is 0 chars",
        "no_system_prompt": "no system message",
    }
    for n, row in rows.items():
        reasons = check_row(row, cfg.quality)
        kind = defects.get(n)
        if kind in expected:
            assert any(r.startswith(expected[kind]) for r in reasons), (n, kind, reasons)
        else:
            assert reasons == [], (n, kind, reasons)
    conflicts = find_conflicts(list(rows.values()))
    assert sorted(int(i.split("-")[1]) for i in conflicts) == sorted(
        n for n, k in defects.items() if k == "conflicting_label"
    )


def test_dedup_finds_the_planted_duplicates_only(
    cfg: DataConfig, rows: dict[int, Row], defects: dict[int, str]
) -> None:
    result = find_duplicates(list(rows.values()), cfg.dedup)
    dropped = {int(i.split("-")[1]): why for i, why in result.dropped.items()}
    assert {n: defects.get(n) for n in dropped} == {
        n: k for n, k in defects.items() if k in ("exact_duplicate", "near_duplicate")
    }
    assert all(
        dropped[n].startswith("exact duplicate of line-")
        for n, k in defects.items()
        if k == "exact_duplicate"
    )


def test_pii_rows_are_found_by_the_regex_engine(
    rows: dict[int, Row], defects: dict[int, str]
) -> None:
    report = scrub(list(rows.values()), PIIConfig(engine="regex", mode="report"))
    assert sorted(int(i.split("-")[1]) for i in report.rows_with_pii) == sorted(
        n for n, k in defects.items() if k == "pii"
    )
    assert report.counts == {"EMAIL_ADDRESS": 4, "PHONE_NUMBER": 2, "CREDIT_CARD": 1}


def test_provenance_mix_and_golden_set(cfg: DataConfig, rows: dict[int, Row]) -> None:
    mix = Counter(r.provenance for r in rows.values())
    assert (
        mix["synthetic"] / sum(mix.values()) < 0.3
        and mix["human"] > mix["synthetic"] > 0
        and mix["production"] > 0
    )
    golden = [
        json.loads(line) for line in (EXAMPLE / "data" / "golden.jsonl").read_text().splitlines()
    ]
    assert len({g["id"] for g in golden}) == len(golden)
    buckets = Counter(
        t for g in golden for t in g["tags"] if t == "safety" or t.startswith("intent:")
    )
    assert buckets["safety"] == 8 and len([b for b in buckets if b.startswith("intent:")]) == 8
    for g in golden:
        assert [m["role"] for m in g["messages"]] == ["system", "user"] and set(g["expected"]) >= {
            "intent",
            "priority",
        }
    refs = [
        Row(messages=g["messages"], source=Source("golden.jsonl", i + 1), id=g["id"])
        for i, g in enumerate(golden)
    ]
    assert cross_duplicates(list(rows.values()), refs, cfg.dedup, label="golden") == {}
