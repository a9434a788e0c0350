from __future__ import annotations

from pathlib import Path

import pytest

from tunewise.errors import DataError
from tunewise.pipeline.stages import Stage, StageFailed, run_stages


def _pipeline(
    calls: list[str], material: dict[str, object], fail_at: str | None = None
) -> list[Stage]:
    def make(name: str):
        def fn(folder: Path, upstream: dict) -> dict:
            calls.append(name)
            if name == fail_at:
                raise DataError("planted failure")
            (folder / "out.txt").write_text(name)
            return {"value": sum(u["value"] for u in upstream.values()) + 1}

        return fn

    return [
        Stage("a", make("a"), key_material=material.get("a")),
        Stage("b", make("b"), depends_on=("a",), key_material=material.get("b")),
        Stage("c", make("c"), depends_on=("b",), key_material=material.get("c"), fix_hint="fix c"),
        Stage("d", make("d"), depends_on=("a",), key_material=material.get("d")),
    ]


def test_rerun_skips_unchanged_and_reruns_only_dependants(tmp_path: Path) -> None:
    calls: list[str] = []
    material = {"a": 1, "b": 1, "c": 1, "d": 1}
    first = run_stages(tmp_path, _pipeline(calls, material))
    assert [r.status for r in first] == ["ran"] * 4
    assert first[2].outputs == {"value": 3}

    calls.clear()
    second = run_stages(tmp_path, _pipeline(calls, material))
    assert calls == []
    assert [r.status for r in second] == ["cached"] * 4
    assert second[2].outputs == {"value": 3}

    calls.clear()
    run_stages(tmp_path, _pipeline(calls, {**material, "b": 2}))
    assert calls == ["b", "c"]  # a and d do not depend on b


def test_failure_names_stage_and_resume_continues_there(tmp_path: Path) -> None:
    calls: list[str] = []
    material = {"a": 1, "b": 1, "c": 1, "d": 1}
    with pytest.raises(StageFailed, match=r"stage 'c' failed: planted failure\nfix: fix c"):
        run_stages(tmp_path, _pipeline(calls, material, fail_at="c"))
    assert not (tmp_path / "c" / "stage.json").exists()
    calls.clear()
    records = run_stages(tmp_path, _pipeline(calls, material))
    assert calls == ["c", "d"]
    assert [r.status for r in records] == ["cached", "cached", "ran", "ran"]


def test_stop_after_skips_the_rest(tmp_path: Path) -> None:
    calls: list[str] = []
    records = run_stages(
        tmp_path,
        _pipeline(calls, {}),
        stop_after=lambda rec: "prompt-only passes" if rec.name == "b" else None,
    )
    assert calls == ["a", "b"]
    assert [r.status for r in records] == ["ran", "ran", "skipped", "skipped"]
    assert records[3].note == "prompt-only passes"


def test_a_stage_whose_files_went_missing_runs_again(tmp_path: Path) -> None:
    calls: list[str] = []
    material = {"a": 1, "b": 1, "c": 1, "d": 1}
    run_stages(tmp_path, _pipeline(calls, material))
    (tmp_path / "b" / "out.txt").unlink()
    calls.clear()
    records = run_stages(tmp_path, _pipeline(calls, material))
    assert calls == ["b"]  # c depends on b's key, which did not change
    assert records[1].status == "ran" and "missing or changed, e.g. out.txt" in records[1].note


def _interrupted_then(tmp_path: Path, *, resume: bool) -> tuple[list[str], str]:
    """A resumable stage killed half-way (a file but no stage.json), then run again."""
    seen: list[str] = []

    def work(folder: Path, upstream: dict) -> dict:
        progress = folder / "progress.txt"
        seen.append(progress.read_text() if progress.exists() else "fresh")
        progress.write_text("half")
        if len(seen) == 1:
            raise KeyboardInterrupt  # killed: no stage.json, the folder stays as it was
        return {"value": 1}

    stage = Stage("t", work, key_material=1, resumable=True)
    with pytest.raises(KeyboardInterrupt):
        run_stages(tmp_path, [stage])
    records = run_stages(tmp_path, [stage], resume=resume)
    return seen, records[0].note


def test_resume_keeps_an_unfinished_resumable_stage(tmp_path: Path) -> None:
    seen, note = _interrupted_then(tmp_path, resume=True)
    assert seen == ["fresh", "half"]
    assert note == "continued an unfinished attempt"


def test_without_resume_an_unfinished_stage_starts_over_and_says_so(tmp_path: Path) -> None:
    seen, note = _interrupted_then(tmp_path, resume=False)
    assert seen == ["fresh", "fresh"]
    assert "started over" in note and "--resume" in note


def test_resume_does_not_continue_an_attempt_with_another_key(tmp_path: Path) -> None:
    seen: list[str] = []

    def work(folder: Path, upstream: dict) -> dict:
        seen.append("kept" if (folder / "x").exists() else "fresh")
        (folder / "x").write_text("1")
        if len(seen) == 1:
            raise DataError("stopped")
        return {}

    with pytest.raises(StageFailed, match="training continues from its last checkpoint"):
        run_stages(tmp_path, [Stage("t", work, key_material=1, resumable=True)])
    run_stages(tmp_path, [Stage("t", work, key_material=2, resumable=True)], resume=True)
    assert seen == ["fresh", "fresh"]  # the config changed: that attempt cannot be continued
