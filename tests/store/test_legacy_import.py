"""The registry.db and jobs.db of the release with two databases (fixtures written by that
release's code: tests/store/legacy/make_fixtures.py) move into the one database on first open,
nothing lost, once, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tunewise.registry import Registry
from tunewise.store import get_engine
from tunewise.store.legacy import import_legacy
from tunewise.train.jobs import JobStore

LEGACY = Path(__file__).resolve().parent / "legacy"
EXPECTED = json.loads((LEGACY / "expected.json").read_text())
MODELS = ["m1", "m2", "m3", "ft:gpt-4o-mini:acme::p1"]


@pytest.fixture
def legacy_state(_state: Path) -> Path:
    """The state folder as the release left it: registry.db and jobs.db."""
    _state.mkdir(parents=True)
    for name in ("registry.db", "jobs.db"):
        shutil.copy(LEGACY / name, _state / name)
    return _state


@pytest.fixture(params=["default", "postgresql"])
def target(request: pytest.FixtureRequest) -> str | None:
    """Where the state goes: the default SQLite file, or a database on the test PostgreSQL."""
    return None if request.param == "default" else str(request.getfixturevalue("pg_url"))


def _without(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in keys} for r in rows]


def _assert_everything_kept(url: str | None) -> None:
    with Registry(url) as reg:
        want = EXPECTED["registry"]
        assert _without(reg.list_models(), "stale") == _without(want["models"], "stale")
        assert reg.list_datasets() == want["datasets"]
        assert reg.history("support") == want["history"]
        assert reg.history("support", "canary") == want["canary"]
        for m in MODELS:
            got = reg.lineage(m, verify=False)
            assert got.pop("events") == [], m  # the release had no registry events
            assert got == want["lineage"][m], m
    store = JobStore(url)
    jobs = store.list_jobs(limit=100)
    assert _without([j.to_json() for j in jobs], "host") == EXPECTED["jobs"]
    for j in jobs:
        assert store.events(j.id, limit=1000) == EXPECTED["events"][j.id]
        assert [c.__dict__ for c in store.checkpoints(j.id)] == EXPECTED["checkpoints"][j.id]


def test_import_keeps_every_row_and_id(
    legacy_state: Path, target: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    JobStore(target)
    notice = capsys.readouterr().err.strip().splitlines()
    assert len(notice) == 1, notice
    assert "imported registry.db (4 models, 1 datasets, 4 alias events)" in notice[0]
    assert "jobs.db (3 jobs, 13 events, 3 checkpoints)" in notice[0]
    expect_files = {"registry.db.migrated-to-tunewise.db", "jobs.db.migrated-to-tunewise.db"}
    if target is None:
        expect_files.add("tunewise.db")
    assert {p.name for p in legacy_state.iterdir()} - {"tunewise.db-wal", "tunewise.db-shm"} == (
        expect_files
    )
    _assert_everything_kept(target)

    # New rows follow the imported ones (PostgreSQL's sequences were moved past them).
    store = JobStore(target)
    job = store.create(method="lora", base="b", data="d", out="o", config={})
    last_old = max(int(e["id"].split("-")[1]) for ev in EXPECTED["events"].values() for e in ev)
    assert int(store.events(job.id)[0]["id"].split("-")[1]) == last_old + 1
    with Registry(target) as reg:
        reg.register_model(provider_model_id="ft:gpt-4o-mini:acme::p2", base="gpt-4o-mini")
        assert [m["model"] for m in reg.list_models()][-1] == "ft:gpt-4o-mini:acme::p2"
        reg.promote("ft:gpt-4o-mini:acme::p2", "support", force=True, reason="after the move")
        assert reg.history("support")[-1]["previous"] == "m1"  # the imported holder


def test_import_is_idempotent(legacy_state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = get_engine()
    capsys.readouterr()
    # A crash after the import committed but before the rename: the file is back in place.
    shutil.copy(LEGACY / "jobs.db", legacy_state / "jobs.db")
    import_legacy(engine)
    assert capsys.readouterr().err == ""  # nothing imported again
    assert not (legacy_state / "jobs.db").exists()  # only the rename was left to do
    assert len(list(legacy_state.glob("jobs.db.*migrated-to-tunewise.db"))) == 2
    _assert_everything_kept(None)


def test_registry_db_named_as_the_database_upgrades_in_place(
    legacy_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{legacy_state / 'registry.db'}"
    monkeypatch.setenv("TUNEWISE_REGISTRY_URL", url)  # as users of that release configured it
    _assert_everything_kept(None)
    names = {p.name for p in legacy_state.iterdir()}
    assert "registry.db" in names and "jobs.db.migrated-to-tunewise.db" in names
    assert "tunewise.db" not in names


def test_a_second_process_sees_it_done(legacy_state: Path) -> None:
    code = "from tunewise.train.jobs import JobStore; print(len(JobStore().list_jobs()))"
    first, second = (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        for _ in range(2)
    )
    assert first.stdout.strip() == second.stdout.strip() == "3"
    assert "imported registry.db" in first.stderr and second.stderr == ""
