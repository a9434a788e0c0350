"""Migrations: a fresh database reaches head with every stage's tables, re-running is a no-op,
the shipped scripts describe exactly the ORM tables, a revision-0001 registry upgrades in place,
and a database from a newer tunewise is refused."""

from __future__ import annotations

from importlib import resources

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from tunewise.errors import StoreError
from tunewise.registry import Registry
from tunewise.store import get_engine
from tunewise.store.migrate import alembic_config, current_revision, head_revision, migrate
from tunewise.store.schema import metadata
from tunewise.train.jobs import JobStore

TABLES = {
    "alembic_version",
    "legacy_imports",
    # registry
    "datasets",
    "jobs",
    "models",
    "evals",
    "gates",
    "aliases",
    "alias_events",
    "registry_events",
    # job store
    "fine_tuning_jobs",
    "fine_tuning_job_events",
    "fine_tuning_job_checkpoints",
    # fine-tuning API
    "files",
    "fine_tuning_api_jobs",
    "fine_tuning_workers",
    # gateway
    "serve_flags",
    "serve_flag_events",
    "api_keys",
    "request_log",
    # rollout controller
    "rollouts",
    "rollout_steps",
    "rollout_decisions",
    "rollout_leases",
    "rollout_shadow",
    "feedback",
}


def test_fresh_database_migrated_to_head(db_url: str) -> None:
    engine = get_engine(db_url)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) == TABLES
    assert get_engine(db_url) is engine  # one engine per process and URL


def test_migrations_idempotent(db_url: str) -> None:
    store = JobStore(db_url)
    job = store.create(method="lora", base="b", data="d", out="o", config={"x": 1})
    migrate(store.engine)  # again, explicitly
    cfg = alembic_config(db_url)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert [j.id for j in JobStore(db_url).list_jobs()] == [job.id]  # data survived


def test_migrations_match_tables(db_url: str) -> None:
    with get_engine(db_url).connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata()) == []


def test_registry_at_revision_0001_upgrades_in_place(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    plain = create_engine(url)
    cfg = alembic_config(url)
    with plain.begin() as conn:  # the schema the release with a separate registry.db made
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(
            text(
                "INSERT INTO datasets (manifest_sha256, location, files_json, created_at, "
                "registered_by) VALUES ('a', '/d', '{}', '2026-01-01 00:00:00', 'ana')"
            )
        )
    plain.dispose()
    with Registry(url) as reg:
        assert current_revision(reg.engine) == head_revision() != "0001"
        assert [d["location"] for d in reg.list_datasets()] == ["/d"]
    assert JobStore(url).list_jobs() == []  # the job tables were added beside it


def test_database_from_a_newer_tunewise_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'new.db'}"
    get_engine(url).dispose()
    plain = create_engine(url)
    with plain.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    plain.dispose()
    from tunewise.store.engine import open_engine

    with pytest.raises(StoreError, match="revision 9999, newer than this tunewise"):
        open_engine(url)


def test_migration_scripts_ship_inside_the_package() -> None:
    root = resources.files("tunewise.store.migrations")
    names = {p.name for p in root.iterdir()}
    assert {"env.py", "script.py.mako", "versions"} <= names
    versions = sorted(p.name for p in (root / "versions").iterdir() if p.name[:4].isdigit())
    # One linear chain, revision ids "NNNN" matching the file names.
    assert [v[:4] for v in versions] == [f"{i:04d}" for i in range(1, len(versions) + 1)]
    assert versions[-1][:4] == head_revision()
