"""The search on the tiny model: trials are jobs, the median pruner stops a lagging trial, the
budget stops a running one, the best trial is the best that the forgetting rule lets through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunewise.config import load_config
from tunewise.train.jobs import JobStore
from tunewise.tune import search
from tunewise.tune.config import parse_budget
from tunewise.tune.search import best_of, expected_seconds, run_search
from tunewise.tune.trial import TrialResult

pytest.importorskip("optuna")
pytest.importorskip("torch")


def test_budgets_read_like_durations():
    assert parse_budget("20m") == 1200 and parse_budget("90s") == 90
    assert parse_budget("1h30m") == 5400 and parse_budget("45") == 45
    for bad in ("soon", "0m", "20x", "-5m"):
        with pytest.raises(ValueError):
            parse_budget(bad)


def test_the_best_trial_must_meet_the_forgetting_limit():
    def trial(n, score, constraint, state="complete", loss=0.5):
        return TrialResult(n, {}, state=state, score=score, constraint=constraint, valid_loss=loss)

    results = [trial(0, 0.80, -0.01), trial(1, 0.95, 0.04), trial(2, 0.90, -0.2),
               trial(3, 0.99, None, state="pruned"), trial(4, 0.90, -0.1, loss=0.3)]  # fmt: skip
    assert best_of(results).number == 4  # 1 forgets too much, 3 never finished, 4 ties 2 on loss
    assert best_of([trial(0, 0.5, 0.1), trial(1, 0.6, 0.2)]).number == 1  # none meets it: say so
    assert best_of([trial(0, None, None, state="failed")]) is None


def _rows(n: int, offset: int) -> str:
    lines = []
    for i in range(offset, offset + n):
        a, b = i % 7, (i * 3) % 5
        lines.append(json.dumps({"id": f"r{i}", "messages": [
            {"role": "system", "content": "Answer with the sum as JSON."},
            {"role": "user", "content": f"What is {a} plus {b}?"},
            {"role": "assistant", "content": json.dumps({"sum": a + b})}]}))  # fmt: skip
    return "\n".join(lines) + "\n"


@pytest.fixture
def project(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TUNEWISE_HOME", str(tmp_path / "state"))
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "train.jsonl").write_text(_rows(24, 0))
    (ds / "validation.jsonl").write_text(_rows(8, 1000))
    suite = tmp_path / "suite.jsonl"
    suite.write_text("".join(json.dumps({"id": f"g{i}", "messages": [{"role": "user", "content": q}],
                                         "expected": {"any": [a]}}) + "\n"
                             for i, (q, a) in enumerate([("Say yes.", "yes"), ("Name a color.", "red")])))  # fmt: skip
    cfg = {
        "train": {"base": str(tiny_model), "epochs": 2, "batch_size": 4, "learning_rate": 1e-2,
                  "warmup_ratio": 0, "lora": {"r": 4, "alpha": 8}, "early_stopping_patience": None,
                  "rehearsal": {"enabled": False}},
        "eval": {"max_new_tokens": 6, "forgetting_suite": str(suite), "forgetting_max_new_tokens": 4,
                 "bootstrap_samples": 200, "label_field": None},
        # Every sampled trial learns 10,000x slower than trial 0 (the config as written).
        "tune": {"trials": 3, "budget": "30m", "startup_trials": 1, "prune_after": 1,
                 "space": {"learning_rate": [1e-6, 1e-6], "epochs": [2, 2], "lora_r": [4],
                           "rehearsal_share": [0, 0]}},
    }  # fmt: skip
    path = tmp_path / "tunewise.yaml"
    path.write_text(json.dumps(cfg))
    return path, ds


def test_trials_are_jobs_and_lagging_ones_are_pruned(project, tmp_path):
    path, ds = project
    seen = []
    outcome = run_search(load_config(path), ds, tmp_path / "tune", on_trial=seen.append)
    assert [t.state for t in seen] == ["complete", "pruned", "pruned"]
    assert outcome["counts"] == {
        "complete": 1,
        "pruned": 2,
        "stopped": 0,
        "skipped": 0,
        "failed": 0,
    }
    assert seen[1].losses[0] > seen[0].losses[0]  # what the median rule saw after evaluation 1
    store = JobStore()
    jobs = {j.id: j for j in store.list_jobs(limit=10)}
    assert [jobs[t.job_id].status for t in seen] == ["succeeded", "cancelled", "cancelled"]
    events = [e["message"] for e in store.events(seen[1].job_id, limit=100)]
    assert any(m.startswith("pruned by tunewise tune after evaluation 1") for m in events)
    best = outcome["best"]
    assert best["number"] == 0 and best["feasible"] and best["forgetting"]["n"] == 2
    assert Path(best["adapter"], "adapter_model.safetensors").is_file()
    assert outcome["overrides"]["train.learning_rate"] == 1e-2
    assert outcome["overrides"]["train.rehearsal.enabled"] is False
    folder = tmp_path / "tune"
    saved = json.loads((folder / "trials.json").read_text())
    assert [t["state"] for t in saved["trials"]] == ["complete", "pruned", "pruned"]
    assert (folder / "trials.png").stat().st_size > 5000
    page = (folder / "trials.html").read_text()
    assert "<table>" in page and "data:image/png;base64," in page and "pruned" in page
    assert not any((folder / "trials").glob("00[12]/adapter/adapter_model.safetensors"))


def test_the_budget_stops_a_running_trial(project, tmp_path):
    path, ds = project
    # 1 ms: gone before the first evaluation however fast the machine (1 s was not, on an idle CI).
    cfg = load_config(path, {"tune.budget": "0.001"})
    outcome = run_search(cfg, ds, tmp_path / "tune")
    assert outcome["counts"]["stopped"] == 1 and sum(outcome["counts"].values()) == 1
    assert outcome["best"] is None and outcome["overrides"] is None
    (job,) = JobStore().list_jobs(limit=5)
    assert job.status == "cancelled"


def test_a_trial_the_budget_cannot_cover_is_not_started(project, tmp_path, monkeypatch):
    path, ds = project
    # After trial 0, every trial is expected to need more than the 30 minutes left.
    monkeypatch.setattr(search, "expected_seconds", lambda done, _p: 1e9 if done else 0.0)
    outcome = run_search(load_config(path), ds, tmp_path / "tune")
    assert outcome["counts"]["complete"] == 1 and outcome["counts"]["skipped"] == 1
    assert sum(outcome["counts"].values()) == 2  # the search ended there, trials: 3 or not
    (skipped,) = [t for t in json.loads((tmp_path / "tune" / "trials.json").read_text())["trials"]
                  if t["state"] == "skipped"]  # fmt: skip
    assert skipped["job_id"] is None and "of the budget left" in skipped["error"]
    assert len(JobStore().list_jobs(limit=5)) == 1


def test_expected_length_scales_with_epochs_and_rehearsal():
    done = TrialResult(0, {"epochs": 3, "rehearsal_share": 0.0}, "complete", seconds=120.0)
    assert expected_seconds([], {"epochs": 9, "rehearsal_share": 0.0}) == 0.0
    assert expected_seconds([done], {"epochs": 9, "rehearsal_share": 0.0}) == pytest.approx(360)
    # share 0.5: each epoch has twice the rows
    assert expected_seconds([done], {"epochs": 3, "rehearsal_share": 0.5}) == pytest.approx(240)
    stopped = TrialResult(1, {"epochs": 9, "rehearsal_share": 0.0}, "stopped", seconds=5.0)
    assert expected_seconds([done, stopped], {"epochs": 3, "rehearsal_share": 0.0}) == 120
