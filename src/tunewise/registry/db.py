"""Opening the registry database: URL resolution, engine settings, migrations on open.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every transaction
starts with BEGIN IMMEDIATE so that writers queue up instead of failing half-way. PostgreSQL
relies on row locks (SELECT ... FOR UPDATE) taken by the alias operations.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from tunewise.errors import RegistryError
from tunewise.paths import state_dir

ENV_URL = "TUNEWISE_REGISTRY_URL"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 60_000
# Any constant works; it only has to be the same in every process migrating one database.
_PG_MIGRATION_LOCK = 7_270_206


def resolve_url(url: str | None = None, config_url: str | None = None) -> str:
    """The registry URL: explicit argument, then TUNEWISE_REGISTRY_URL, then the config's
    `registry.url`, then SQLite at `state_dir()/registry.db`. A bare path means SQLite."""
    chosen = url or os.environ.get(ENV_URL) or config_url
    if not chosen:
        return f"sqlite:///{(state_dir() / 'registry.db').resolve()}"
    if "://" not in chosen:
        return f"sqlite:///{Path(chosen).expanduser().resolve()}"
    if chosen.startswith(("postgresql://", "postgres://")):
        # psycopg (3) is the driver we install; SQLAlchemy's bare postgresql:// means psycopg2.
        chosen = "postgresql+psycopg://" + chosen.split("://", 1)[1]
    return chosen


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself instead of pysqlite's deferred BEGIN.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the migrations shipped in the package (no alembic.ini)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> None:
    """Bring the schema to head inside one transaction (idempotent; safe across processes)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_engine(url: str) -> Engine:
    """Create the engine for `url`, check it answers, and migrate it to the current schema."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise RegistryError(f"registry URL '{url}' is not a valid SQLAlchemy URL: {exc}") from exc
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise RegistryError(
            f"cannot open registry {parsed.render_as_string()}: {exc}; for PostgreSQL install "
            "the driver with: pip install 'tunewise[registry]'"
        ) from exc
    if engine.dialect.name == "sqlite":
        _sqlite_events(engine)
    try:
        if current_revision(engine) != head_revision():
            migrate(engine)
    except OperationalError as exc:
        engine.dispose()
        raise RegistryError(
            f"cannot open registry {parsed.render_as_string()}: {exc.orig}; check the URL "
            f"(config registry.url or {ENV_URL})"
        ) from exc
    except SQLAlchemyError as exc:
        engine.dispose()
        raise RegistryError(
            f"registry {parsed.render_as_string()}: migration failed: {exc}"
        ) from exc
    return engine
