"""`tunewise db info` and `tunewise jobs --db` driven the way a user does."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.train.jobs import JobStore

runner = CliRunner()


def test_db_info_and_jobs_on_a_chosen_database(tmp_path: Path, _state: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    job = JobStore(url).create(method="lora", base="b", data="d", out="o", config={})
    result = runner.invoke(app, ["db", "info", "--db", url, "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert facts["url"] == url and facts["revision"] == facts["head"]
    assert facts["tables"]["fine_tuning_jobs"] == 1 and facts["tables"]["models"] == 0

    shown = runner.invoke(app, ["jobs", "--db", url, "show", job.id])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["id"] == job.id
    # Without --db the default database is another one: the job is not there.
    missing = runner.invoke(app, ["jobs", "show", job.id])
    assert missing.exit_code == 6 and "no job" in missing.output
    assert {p.name for p in _state.iterdir()} <= {
        "tunewise.db",
        "tunewise.db-wal",
        "tunewise.db-shm",
    }


def test_db_info_hides_the_password_of_an_unreachable_server() -> None:
    result = runner.invoke(app, ["db", "info", "--db", "postgresql://ana:s3cret@127.0.0.1:1/x"])
    assert result.exit_code == 8
    assert "s3cret" not in result.output and "ana:***@127.0.0.1:1/x" in result.output


def test_registry_commands_create_only_the_one_database(_state: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["registry", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in _state.iterdir()} <= {
        "tunewise.db",
        "tunewise.db-wal",
        "tunewise.db-shm",
    }
    other = f"sqlite:///{tmp_path / 'other.db'}"
    chosen = runner.invoke(app, ["registry", "--db", other, "list", "--json"])
    assert chosen.exit_code == 0, chosen.output
    assert (tmp_path / "other.db").is_file()
