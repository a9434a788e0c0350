"""Migrations: a fresh database reaches head, re-running is a no-op, and the shipped migration
scripts describe exactly the ORM tables."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from tunewise.registry import Registry
from tunewise.registry.db import alembic_config, current_revision, head_revision, migrate
from tunewise.registry.tables import Base

TABLES = {
    "datasets",
    "jobs",
    "models",
    "evals",
    "gates",
    "aliases",
    "alias_events",
    "alembic_version",
}


def test_fresh_database_migrated_to_head(sqlite_url: str) -> None:
    with Registry(sqlite_url) as reg:
        assert current_revision(reg.engine) == head_revision()
        assert set(inspect(reg.engine).get_table_names()) == TABLES


def test_migrations_idempotent(sqlite_url: str, world: dict[str, Path]) -> None:
    with Registry(sqlite_url) as reg:
        migrate(reg.engine)  # again, explicitly
        cfg = alembic_config(sqlite_url)
        with reg.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        assert [m["model"] for m in reg.list_models()] == ["m1", "m2"]  # data survived
    with Registry(sqlite_url) as reg:  # reopening does not migrate again or lose anything
        assert len(reg.list_models()) == 2


def test_migrations_match_tables(sqlite_url: str) -> None:
    with Registry(sqlite_url) as reg, reg.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_migration_scripts_ship_inside_the_package() -> None:
    root = resources.files("tunewise.registry.migrations")
    names = {p.name for p in root.iterdir()}
    assert {"env.py", "script.py.mako", "versions"} <= names
    assert any(p.name.startswith("0001_") for p in (root / "versions").iterdir())
