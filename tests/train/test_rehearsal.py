"""Rehearsal: the pool is varied and disjoint from the forgetting suite; the base model's own answers
are generated once per base (cached by its content hash) and mixed in at the configured share."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tunewise.errors import ConfigError
from tunewise.train.backend import LocalBackend, TrainRequest
from tunewise.train.config import RehearsalConfig, TrainConfig
from tunewise.train.rehearsal import load_pool, rehearsal_rows, rows_needed


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _trigrams(text: str) -> set[tuple[str, ...]]:
    w = _words(text)
    return {tuple(w[i : i + 3]) for i in range(max(1, len(w) - 2))}


def _user(messages: list[dict]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def test_pool_is_large_varied_and_disjoint_from_the_forgetting_suite():
    from tunewise.evaluate.forgetting import forgetting_suite

    pool = load_pool("builtin")
    suite = forgetting_suite("builtin")
    assert suite is not None and len(suite.cases) >= 100
    assert len(pool) >= 300 and len({p["id"] for p in pool}) == len(pool)
    kinds = {p["id"].split("-")[1] for p in pool}
    assert {"arithmetic", "fact", "format", "safety", "code"} <= kinds
    suite_texts = [_user(c.messages) for c in suite.cases]
    for p in pool:
        text = _user(p["messages"])
        for s in suite_texts:
            assert _words(text) != _words(s), (text, s)
            a, b = _trigrams(text), _trigrams(s)
            # Near-duplicates would let rehearsal train on the suite's own questions.
            assert len(a & b) / len(a | b) < 0.5, (text, s)


def test_rows_needed_makes_the_share_of_each_epoch():
    assert rows_needed(300, 0.25) == 100  # 100 / (300 + 100) = 0.25
    assert rows_needed(276, 0.5) == 276
    assert rows_needed(10, 0) == 0 and rows_needed(0, 0.5) == 0


def test_a_pool_file_with_a_bad_line_is_named(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text('{"prompt": "Say hi."}\n{"text": "no prompt"}\n')
    with pytest.raises(ConfigError, match=r"pool.jsonl line 2"):
        load_pool(str(path))
    path.write_text('{"prompt": "Say hi."}\n{"messages": [{"role": "user", "content": "Hey"}]}\n')
    assert [p["messages"][-1]["content"] for p in load_pool(str(path))] == ["Say hi.", "Hey"]


@pytest.fixture(scope="module")
def brief_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model fully fine-tuned to answer 'ok.' and stop: some of its answers finish (a random
    one never emits end-of-sequence; about a third of the pool's prompts get 'ok.' and a stop)."""
    ds = tmp_path_factory.mktemp("brief") / "ds"
    ds.mkdir()
    rows = [
        {"messages": [{"role": "user", "content": f"Question {i}: {w}?"},
                      {"role": "assistant", "content": "ok."}]}
        for i, w in enumerate(["why", "how", "what", "when", "where", "who", "which", "whose"] * 4)
    ]  # fmt: skip
    (ds / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TrainConfig(base=str(tiny_model), method="full", epochs=15, learning_rate=2e-2,
                      batch_size=8, warmup_ratio=0, rehearsal=RehearsalConfig(enabled=False),
                      early_stopping_patience=None)  # fmt: skip
    out = ds.parent / "model"
    job = LocalBackend().submit(TrainRequest(ds, cfg, out, progress=False))
    assert job.status == "succeeded"
    return out


def test_answers_are_generated_once_per_base_and_cached(brief_model, tmp_path, monkeypatch):
    from tunewise import infer

    monkeypatch.setenv("TUNEWISE_CACHE", str(tmp_path / "cache"))
    cfg = RehearsalConfig(enabled=True, share=0.5, max_new_tokens=8)
    rows, report = rehearsal_rows(brief_model, cfg, 20)
    # How many answers finish depends on what a 2-layer model learned; the cache's contract does not:
    # every prompt tried is generated once, kept, and only finished, non-empty answers become rows.
    assert rows and report["rows"] == len(rows) <= 20
    assert report["generated"] == report["prompts_tried"] >= 20
    assert all(r["id"].startswith("rehearsal:rehearsal-") for r in rows)
    assert all(r["messages"][-1]["content"].strip() for r in rows)
    cached = next((tmp_path / "cache" / "rehearsal").rglob("answers-8.jsonl"))
    entries = [json.loads(line) for line in cached.read_text().splitlines()]
    assert len(entries) == report["generated"]
    assert sum(e["finished"] and bool(e["answer"].strip()) for e in entries) >= len(rows)

    real, calls = infer.generate, []
    monkeypatch.setattr(
        infer, "generate", lambda msgs, *a, **k: calls.append(len(msgs)) or real(msgs, *a, **k)
    )
    again, report2 = rehearsal_rows(brief_model, cfg, 20)
    assert again == rows and report2["generated"] == 0 and calls == []
    more, report3 = rehearsal_rows(
        brief_model, RehearsalConfig(enabled=True, share=0.75, max_new_tokens=8), 20
    )
    assert more[: len(rows)] == rows and len(more) >= len(rows)
    # Only the prompts the cache lacked were generated, in one or more batches.
    assert report3["generated"] == report3["prompts_tried"] - report["prompts_tried"]
    assert sum(calls) == report3["generated"]


def test_cut_off_answers_are_left_out_and_generation_stops_early(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEWISE_CACHE", str(tmp_path / "cache"))
    rows, report = rehearsal_rows(
        tiny_model, RehearsalConfig(enabled=True, share=0.5, max_new_tokens=4), 16
    )
    assert rows == [] and report["unfinished"] == report["prompts_tried"] == 16
    assert report["prompts_tried"] < len(load_pool("builtin"))


def test_training_mixes_rehearsal_rows_at_the_share(brief_model, tmp_path, monkeypatch):
    from train_rows import write_dataset

    from tunewise.train import trainer as T

    monkeypatch.setenv("TUNEWISE_CACHE", str(tmp_path / "cache"))
    ds = write_dataset(tmp_path / "ds", n_train=24, n_val=4)
    cfg = TrainConfig(
        base=str(brief_model), epochs="auto", batch_size=8, learning_rate=1e-3, max_steps=2,
        rehearsal=RehearsalConfig(enabled=True, share=0.25, max_new_tokens=8),
    )  # fmt: skip
    # The answers a run mixes in come from the cache this call fills (how many finish depends on
    # what the 2-layer model learned; 8 are wanted next to 24 task rows at a 25% share).
    want, report = rehearsal_rows(brief_model, cfg.rehearsal, 24)
    n = len(want)
    assert 0 < n <= 8 == report["wanted"]
    job = LocalBackend().submit(TrainRequest(ds, cfg, tmp_path / "out", progress=False))
    metrics = json.loads((tmp_path / "out" / "manifest.json").read_text())["metrics"]
    assert metrics["task_rows"] == 24 and metrics["rehearsal"]["rows_trained"] == n
    assert metrics["length"]["train"]["kept"] == 24  # the task data's own report
    from tunewise.train.epochs import local_auto_epochs

    epochs = local_auto_epochs(24, 8)  # auto counts task rows (10 here: the step rule's cap)
    assert metrics["epochs"] == epochs
    messages = [e["message"] for e in LocalBackend().events(job.id, limit=100)]
    assert any(m.startswith(f"rehearsal: {n} rows") for m in messages)
    plan = T._plan(cfg.model_copy(update={"max_steps": None}), 24 + n, 24, None)
    assert (plan.epochs, plan.total_steps) == (epochs, epochs * -(-(24 + n) // 8))  # batches of 8

    off = cfg.model_copy(update={"rehearsal": RehearsalConfig(enabled=False), "max_steps": 1})
    LocalBackend().submit(TrainRequest(ds, off, tmp_path / "off", progress=False))
    metrics = json.loads((tmp_path / "off" / "manifest.json").read_text())["metrics"]
    assert metrics["rehearsal"] == {"enabled": False, "rows_trained": 0}
