"""`tunewise data check|prepare|cost` driven like a user would, on real files with real bad rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunewise.artifacts import sha256_file
from tunewise.cli import app

INTENTS = ["billing", "refund", "shipping", "login", "cancel", "upgrade"]
NOUNS = [
    "invoice",
    "parcel",
    "password",
    "subscription",
    "plan",
    "card",
    "account",
    "order",
    "device",
    "voucher",
]
VERBS = [
    "charged twice",
    "never arrived",
    "stopped working",
    "was declined",
    "keeps failing",
    "is missing",
    "looks wrong",
]
SYSTEM = "Classify the support ticket. Answer with JSON: intent."


def _chat(user: str, answer: str, **extra: object) -> dict:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user},
            {"role": "assistant", "content": answer},
        ],
        **extra,
    }


def _good(i: int) -> dict:
    intent = INTENTS[i % len(INTENTS)]
    user = f"Ticket {1000 + i}: my {NOUNS[i % 10]} {VERBS[(i // 10) % 7]} since {['monday', 'tuesday', 'friday'][i % 3]} {i * 37 % 101} times"
    return _chat(user, json.dumps({"intent": intent}))


def write_tickets(path: Path, n_good: int = 60) -> dict[int, str]:
    """Good rows plus one of each kind of bad row; returns line -> expected reason fragment."""
    lines = [json.dumps(_good(i)) for i in range(n_good)]
    bad = {
        "not json {": "not valid JSON",
        "": "empty line",
        json.dumps(
            {"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "x"}]}
        ): "messages[1].role: 'bot'",
        json.dumps({**_chat("weighted", '{"intent": "billing"}')}).replace(
            '"role": "assistant"', '"role": "assistant", "weight": 2'
        ): "weight: must be 0 or 1",
        json.dumps(_good(3)): "exact duplicate",
        json.dumps(
            _chat(_good(4)["messages"][1]["content"] + "!", json.dumps({"intent": INTENTS[4]}))
        ): "duplicate",
        json.dumps(
            _chat("I'm not sure about my plan", "As an AI language model I cannot say")
        ): "refusal marker",
        json.dumps(_chat("same question twice", '{"intent": "billing"}')): "conflict",
        json.dumps(_chat("same question twice", '{"intent": "refund"}')): "conflict",
        '["an", "array"]': "expected a JSON object",
    }
    expected = {}
    for raw, why in bad.items():
        lines.append(raw)
        expected[len(lines)] = why
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe broken bytes\n")
    expected[len(lines) + 1] = "invalid UTF-8"
    return expected


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "tunewise.yaml").write_text(
        "project: t\ndata:\n  pii:\n    engine: regex\n  quality:\n    grounding: false\n"
    )
    return tmp_path


def _run(*args: str) -> object:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_prepare_writes_a_balanced_reproducible_version(project: Path) -> None:
    src = project / "tickets.jsonl"
    expected = write_tickets(src)
    cfg = str(project / "tunewise.yaml")
    r1 = _run(
        "data",
        "prepare",
        str(src),
        "--config",
        cfg,
        "--out",
        str(project / "v1"),
        "--stratify-by",
        "json:intent",
        "-q",
    )
    assert r1.exit_code == 0, r1.output  # type: ignore[attr-defined]
    r2 = _run(
        "data",
        "prepare",
        str(src),
        "--config",
        cfg,
        "--out",
        str(project / "v2"),
        "--stratify-by",
        "json:intent",
        "-q",
    )
    assert r2.exit_code == 0, r2.output  # type: ignore[attr-defined]
    names = sorted(p.name for p in (project / "v1").iterdir())
    assert names == [
        "golden.jsonl",
        "manifest.json",
        "rejects.jsonl",
        "train.jsonl",
        "validation.jsonl",
    ]
    for name in names:
        assert (project / "v1" / name).read_bytes() == (project / "v2" / name).read_bytes(), name

    v = project / "v1"
    manifest = json.loads((v / "manifest.json").read_text())
    read = len(src.read_bytes().split(b"\n")) - 1
    rows = {
        n: (v / n).read_text().splitlines()
        for n in ("train.jsonl", "validation.jsonl", "golden.jsonl", "rejects.jsonl")
    }
    assert manifest["counts"]["read"] == read
    assert sum(len(x) for x in rows.values()) == read  # every line is somewhere, exactly once
    assert (
        manifest["accounting"]["balanced"]
        and manifest["accounting"]["kept"] + manifest["accounting"]["rejected"] == read
    )
    for name, meta in manifest["files"].items():
        assert meta["sha256"] == sha256_file(v / name)
    assert manifest["inputs"][0]["sha256"] == sha256_file(src)
    assert set(manifest["labels"]["train"]) == set(INTENTS)
    assert (
        manifest["tokens"]["train"]["total"] > 0
        and manifest["config"]["split"]["stratify_by"] == "json:intent"
    )

    rejects = {
        j["source"]["line"]: " | ".join(j["reasons"])
        for j in map(json.loads, rows["rejects.jsonl"])
    }
    for line, why in expected.items():
        assert why in rejects[line], (line, rejects.get(line))
        assert f"tickets.jsonl line {line}" in rejects[line]
    golden = [json.loads(x) for x in rows["golden.jsonl"]]
    assert all(
        g["messages"][-1]["role"] == "user" and isinstance(g["expected"], dict) for g in golden
    )
    assert {t for g in golden for t in g["tags"]} >= {f"intent:{i}" for i in INTENTS}
    train = [json.loads(x) for x in rows["train.jsonl"]]
    assert {"id", "messages", "provenance", "tags", "source"} <= set(train[0])


def test_check_reports_only_and_writes_rejects_on_request(project: Path) -> None:
    src = project / "tickets.jsonl"
    expected = write_tickets(src)
    before = sorted(p.name for p in project.iterdir())
    res = _run("data", "check", str(src), "--config", str(project / "tunewise.yaml"), "-q")
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    assert "kept" in res.output and "training cost" in res.output  # type: ignore[attr-defined]
    assert sorted(p.name for p in project.iterdir()) == before
    out = project / "rejects.jsonl"
    res = _run(
        "data",
        "check",
        str(src),
        "--config",
        str(project / "tunewise.yaml"),
        "--rejects",
        str(out),
        "--json",
    )
    assert res.exit_code == 0
    summary = json.loads(res.output)  # type: ignore[attr-defined]
    assert summary["counts"]["rejected"] == len(out.read_text().splitlines()) >= len(expected)
    assert summary["blocking"] == []


def test_blocking_problems_exit_3(project: Path) -> None:
    cfg = str(project / "tunewise.yaml")
    few = project / "few.jsonl"
    few.write_text("".join(json.dumps(_good(i)) + "\n" for i in range(5)))
    res = _run("data", "check", str(few), "--config", cfg, "-q")
    assert res.exit_code == 3 and "needs at least 10" in res.output  # type: ignore[attr-defined]

    pii = project / "pii.jsonl"
    rows = [_good(i) for i in range(20)]
    rows[7]["messages"][1]["content"] += " reach me at jane.doe@example.com"
    pii.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = _run(
        "data",
        "prepare",
        str(pii),
        "--config",
        cfg,
        "--pii",
        "fail",
        "--out",
        str(project / "out"),
        "-q",
    )
    assert res.exit_code == 3 and "pii.jsonl line 8" in res.output  # type: ignore[attr-defined]
    assert not (project / "out").exists()  # nothing half-written

    synth = project / "synth.jsonl"
    synth.write_text(
        "".join(
            json.dumps({**_good(i), "provenance": "synthetic" if i % 2 else "human"}) + "\n"
            for i in range(30)
        )
    )
    res = _run("data", "check", str(synth), "--config", cfg, "--synthetic-cap", "0.3", "-q")
    assert res.exit_code == 3 and "synthetic rows are 50%" in res.output  # type: ignore[attr-defined]
    assert (
        _run("data", "check", str(synth), "--config", cfg, "--synthetic-cap", "0.6", "-q").exit_code
        == 0
    )  # type: ignore[attr-defined]

    assert _run("data", "check", str(few), "--pii", "sometimes").exit_code == 2  # type: ignore[attr-defined]


def test_user_golden_file_keeps_its_prompts_out_of_train(project: Path) -> None:
    src = project / "t.jsonl"
    src.write_text("".join(json.dumps(_good(i)) + "\n" for i in range(40)))
    golden = project / "golden.jsonl"
    leaked = _good(5)["messages"][:2]
    golden.write_text(
        json.dumps(
            {
                "id": "g-1",
                "messages": leaked,
                "expected": {"intent": INTENTS[5]},
                "tags": ["intent:upgrade"],
            }
        )
        + "\n"
    )
    out = project / "v"
    res = _run(
        "data",
        "prepare",
        str(src),
        "--config",
        str(project / "tunewise.yaml"),
        "--golden",
        str(golden),
        "--out",
        str(out),
        "-q",
    )
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert [j["source"]["line"] for j in rejects] == [6] and "golden row" in rejects[0]["reasons"][
        0
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["golden"] == 0 and manifest["files"]["golden.jsonl"]["rows"] == 1
    assert manifest["golden_file"]["sha256"] == sha256_file(golden)
    # The folder exists now: a second prepare refuses to overwrite it unless asked.
    again = _run(
        "data",
        "prepare",
        str(src),
        "--config",
        str(project / "tunewise.yaml"),
        "--out",
        str(out),
        "-q",
    )
    assert again.exit_code == 3 and "--overwrite" in again.output  # type: ignore[attr-defined]
    assert (
        _run(
            "data",
            "prepare",
            str(src),
            "--config",
            str(project / "tunewise.yaml"),
            "--out",
            str(out),
            "-q",
            "--overwrite",
        ).exit_code
        == 0
    )  # type: ignore[attr-defined]


def test_cost_verb_with_break_even(project: Path) -> None:
    src = project / "t.jsonl"
    src.write_text("".join(json.dumps(_good(i)) + "\n" for i in range(50)))
    res = _run(
        "data",
        "cost",
        str(src),
        "--prompt-tokens-saved",
        "1500",
        "--monthly-requests",
        "100000",
        "-q",
    )
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    assert (
        "training cost: $" in res.output
        and "break-even:" in res.output
        and "month(s)" in res.output
    )  # type: ignore[attr-defined]
    assert "Exit codes" in _run("data", "check", "--help").output  # type: ignore[attr-defined]


def test_banking77_csv_with_tag_column_and_stratification(
    banking77_csv: Path, tmp_path: Path
) -> None:
    cfg = tmp_path / "tunewise.yaml"
    cfg.write_text(
        f"data:\n  inputs: [{banking77_csv}]\n  input:\n    input_column: text\n    output_column: category\n"
        "    tag_columns: [category]\n    system_prompt: Classify the banking query.\n"
        "  split:\n    stratify_by: category\n  pii:\n    engine: regex\n  quality:\n    grounding: false\n"
    )
    out = tmp_path / "b77"
    res = _run("data", "prepare", "--config", str(cfg), "--out", str(out), "-q")
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    manifest = json.loads((out / "manifest.json").read_text())
    c = manifest["counts"]
    assert c["read"] > 9_000  # CSV records, not physical lines: some texts span lines
    assert c["kept"] + c["rejected"] == c["read"]
    labels = manifest["labels"]
    assert (
        len(labels["train"]) == 77
        and len(labels["golden"]) == 77
        and len(labels["validation"]) == 77
    )
    for label, n in labels["golden"].items():
        total = labels["train"][label] + labels["validation"][label] + n
        assert abs(n - total * 0.1) <= 1, label
    first = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert first["messages"][0] == {"role": "system", "content": "Classify the banking query."}
    assert first["tags"][0].startswith("category:")


def test_augment_adds_tagged_train_rows_counted_apart(project: Path) -> None:
    src = project / "orders.jsonl"
    rows = []
    for i in range(30):
        order = f"ORD-{10000 + i * 37}"
        user = (
            f"Where is order {order}? It was due {['monday', 'friday', 'sunday'][i % 3]}, case {i}."
        )
        rows.append(_chat(user, json.dumps({"intent": INTENTS[i % 6], "order_id": order})))
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = project / "v"
    args = [
        "data",
        "prepare",
        str(src),
        "--config",
        str(project / "tunewise.yaml"),
        "--out",
        str(out),
        "-q",
    ]
    res = _run(*args, "--augment", "--synthetic-cap", "1")
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    manifest = json.loads((out / "manifest.json").read_text())
    c = manifest["counts"]
    assert (
        c["augmented"] > 0
        and c["train"] == c["kept"] - c["validation"] - c["golden"] + c["augmented"]
    )
    assert (
        manifest["accounting"]["balanced"]
        and manifest["accounting"]["augmented_extra"] == c["augmented"]
    )
    train = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    aug = [r for r in train if "augmented" in r["tags"]]
    assert len(aug) == c["augmented"]
    for r in aug:
        answer = json.loads(r["messages"][-1]["content"])
        assert answer["order_id"] in r["messages"][1]["content"]
    held_out = {json.loads(x)["id"] for x in (out / "validation.jsonl").read_text().splitlines()}
    assert not any(f"augmented_from:{h}" in r["tags"] for r in aug for h in held_out)


def test_a_failed_write_leaves_nothing_behind(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunewise.data import output

    src = project / "t.jsonl"
    src.write_text("".join(json.dumps(_good(i)) + "\n" for i in range(30)))

    def boom(path: Path, obj: object) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(output, "atomic_write_json", boom)
    args = ["data", "prepare", str(src), "--config", str(project / "tunewise.yaml")]
    res = _run(*args, "--out", str(project / "v"), "-q")
    assert res.exit_code == 3 and "disk full" in res.output and "nothing was written" in res.output  # type: ignore[attr-defined]
    assert sorted(p.name for p in project.iterdir()) == ["t.jsonl", "tunewise.yaml"]


def test_rejected_rows_are_redacted_too(project: Path) -> None:
    src = project / "t.jsonl"
    rows = [json.dumps(_good(i)) for i in range(12)]
    rows.append(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "I am jane.doe@example.com"},
                    {"role": "bot", "content": "x"},
                ]
            }
        )
    )
    src.write_text("\n".join(rows) + "\n")
    out = project / "v"
    res = _run(
        "data",
        "prepare",
        str(src),
        "--config",
        str(project / "tunewise.yaml"),
        "--out",
        str(out),
        "-q",
    )
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    text = (out / "rejects.jsonl").read_text()
    assert "jane.doe@example.com" not in text and "<EMAIL_ADDRESS_1>" in text
    assert _run("data", "check", str(src), "--epochs", "many").exit_code == 2  # type: ignore[attr-defined]
