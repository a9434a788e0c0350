"""Alembic migrations of the one database, shipped inside the package (no alembic.ini).

Every process that opens a URL brings it to head first (a no-op when it is there already). The
upgrade runs inside one transaction that holds the database's write lock (SQLite: BEGIN
IMMEDIATE; PostgreSQL: an advisory lock), so processes opening a fresh database at the same
moment queue up and all but the first find it migrated.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from tunewise.errors import StoreError
from tunewise.store.url import display_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant works; it only has to be the same in every process migrating one database.
PG_MIGRATION_LOCK = 7_270_206


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the migrations shipped in the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_known(revision: str | None, url: str) -> None:
    """Refuse a database migrated by a newer tunewise (its revision is not in our chain)."""
    known = {s.revision for s in _scripts().walk_revisions()}
    if revision is not None and revision not in known:
        raise StoreError(
            f"database {display_url(url)} is at schema revision {revision}, newer than this "
            f"tunewise knows (head {head_revision()}); upgrade tunewise to use it"
        )


def migrate(engine: Engine) -> None:
    """Bring the schema to head inside one transaction (idempotent; safe across processes)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})")
        check_known(MigrationContext.configure(conn).get_current_revision(), str(engine.url))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
