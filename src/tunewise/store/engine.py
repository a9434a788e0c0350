"""Opening the one database: engine settings, one engine per process and URL, transactions.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every transaction starts
with BEGIN IMMEDIATE so that writers queue up instead of failing half-way. PostgreSQL relies on
row locks (SELECT ... FOR UPDATE) taken where a read decides a write (registry aliases).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from tunewise.errors import StoreError, TunewiseError
from tunewise.store.journal import BUSY_TIMEOUT_S, set_journal_mode
from tunewise.store.migrate import check_known, current_revision, head_revision, migrate
from tunewise.store.url import ENV_URL, display_url, resolve_url

SQLITE_BUSY_TIMEOUT_MS = int(BUSY_TIMEOUT_S * 1000)

_ENGINES: dict[tuple[int, str], Engine] = {}
_LOCK = threading.Lock()


def get_engine(url: str | None = None, config_url: str | None = None) -> Engine:
    """The engine of the database `resolve_url(url, config_url)` names: opened once per process
    and URL, migrated to head and legacy files imported on that first open."""
    resolved = resolve_url(url, config_url)
    key = (os.getpid(), resolved)  # a forked child must not share its parent's connections
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = open_engine(resolved)
            _ENGINES[key] = engine
    return engine


def dispose_engines() -> None:
    """Close every pooled connection this process holds (engines stay usable)."""
    with _LOCK:
        for (pid, _), engine in _ENGINES.items():
            if pid == os.getpid():
                engine.dispose()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def open_engine(url: str) -> Engine:
    """A new engine for `url`, checked to answer, migrated to head, legacy files imported."""
    engine = _create(url)
    shown = display_url(url)
    try:
        revision = current_revision(engine)
        check_known(revision, url)
        if revision != head_revision():
            migrate(engine)
        from tunewise.store.legacy import import_legacy

        import_legacy(engine)
    except OperationalError as exc:
        engine.dispose()
        raise StoreError(
            f"cannot open database {shown}: {exc.orig}; check the URL "
            f"({ENV_URL}, --db or registry.url in tunewise.yaml)"
        ) from exc
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"database {shown}: migration failed: {exc}") from exc
    except TunewiseError:
        engine.dispose()
        raise
    return engine


def _create(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"database URL '{display_url(url)}' is not a valid SQLAlchemy URL: {exc}"
        ) from exc
    kwargs: dict[str, Any] = {}
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
        raise StoreError(
            f"cannot open database {display_url(url)}: {exc}; for PostgreSQL install the "
            "driver with: pip install 'tunewise[registry]'"
        ) from exc
    if engine.dialect.name == "sqlite":
        _sqlite_events(engine)
    return engine


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let the "begin" event issue BEGIN itself instead of pysqlite's deferred BEGIN.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        set_journal_mode(cur, "WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
