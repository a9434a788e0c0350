"""Import of the separate databases of earlier releases: `registry.db` and `jobs.db`.

On first open, a `registry.db` and/or `jobs.db` found in the state folder are copied into the one
database with every id kept (registry rows, job ids, event ids, checkpoint ids), then renamed to
`<name>.migrated-to-tunewise.db`, and one line on stderr says so. The copy is one transaction
holding the database's write lock, and its fingerprint (sha256 of the rows read) is recorded in
`legacy_imports`: processes opening at the same moment import once, and a crash before the
rename only leaves the rename to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, func, insert, inspect, select, text

from tunewise.paths import state_dir
from tunewise.store.base import as_utc, utcnow
from tunewise.store.journal import set_journal_mode
from tunewise.store.migrate import PG_MIGRATION_LOCK
from tunewise.store.schema import metadata
from tunewise.store.tables import LegacyImport
from tunewise.store.url import display_url

SUFFIX = ".migrated-to-tunewise.db"
# In foreign-key order.
REGISTRY_TABLES = ("datasets", "jobs", "models", "evals", "gates", "aliases", "alias_events")
JOB_TABLES = ("fine_tuning_jobs", "fine_tuning_job_events", "fine_tuning_job_checkpoints")
Rows = dict[str, list[dict[str, Any]]]


def import_legacy(engine: Engine) -> None:
    """Import the state folder's registry.db / jobs.db into `engine`'s database, once."""
    folder, target = state_dir(create=False), _sqlite_file(engine)
    found = [
        (kind, folder / name)
        for kind, name in (("registry", "registry.db"), ("jobs", "jobs.db"))
        # Skip a file that is the database itself (a registry.db named by URL: upgraded in place).
        if (folder / name).is_file() and (folder / name).resolve() != target
    ]
    if not found:
        return
    done, notes, moved = [], [], []
    with engine.begin() as conn:  # one transaction for both files: one process does it all
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})")
        for kind, path in found:
            if not path.is_file():
                continue  # imported and renamed by another process while we waited for the lock
            outcome, message = _import_file(conn, kind, path)
            if outcome != "refused":
                moved.append(path)
            if outcome == "imported":
                done.append(message)
            elif outcome == "refused":
                notes.append(message)
    for path in moved:  # after the commit: a crash before this only leaves the rename to do
        _rename(path)
    where = display_url(engine.url.render_as_string(hide_password=False))
    if done:
        sys.stderr.write(
            f"tunewise: imported {' and '.join(done)} into {where}; the old files are kept "
            f"as *{SUFFIX}\n"
        )
    for note in notes:
        sys.stderr.write(f"tunewise: {note}\n")


def _import_file(conn: Connection, kind: str, path: Path) -> tuple[str, str]:
    """Copy one legacy file: ("imported", counts), ("seen", "") when its rows were imported
    before (a crash came before the rename), or ("refused", why)."""
    try:
        rows = _read_registry(path) if kind == "registry" else _read_jobs(path)
    except _Gone:
        return "seen", ""  # imported by another process, renamed after its commit
    if rows is None:
        return "refused", f"{path} is not a registry.db of an earlier release; left as it is"
    fingerprint = _fingerprint(rows)
    seen = select(LegacyImport.kind).where(LegacyImport.fingerprint == fingerprint)
    if conn.scalar(seen) is not None:
        return "seen", ""
    if kind == "registry" and _registry_rows(conn):
        return "refused", (
            f"{path} was not imported: {display_url(str(conn.engine.url))} already holds "
            "registry rows (merge by hand, or move the file away)"
        )
    (_write_registry if kind == "registry" else _write_jobs)(conn, rows)
    conn.execute(
        insert(LegacyImport).values(
            fingerprint=fingerprint,
            kind=kind,
            source=str(path.resolve()),
            host=socket.gethostname(),
            rows=sum(len(v) for v in rows.values()),
            imported_at=utcnow(),
        )
    )
    return "imported", f"{path.name} ({_counts(kind, rows)})"


class _Gone(Exception):
    """The legacy file was renamed by the process that imported it while this one waited."""


def _open(path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    """Open an existing legacy file; never create one (a plain connect would make an empty
    file where another process has just renamed the real one away)."""
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=timeout)
    except sqlite3.OperationalError as exc:
        if not path.exists():
            raise _Gone(str(path)) from exc
        raise


def _read_registry(path: Path) -> Rows | None:
    """Every registry row, read with the current table definitions (types included)."""
    _fold_wal(path)
    legacy = create_engine("sqlite://", creator=lambda: _open(path))
    try:
        with legacy.connect() as conn:
            names = set(inspect(conn).get_table_names())
            if "alembic_version" not in names:
                return None
            tables = metadata().tables
            rows: Rows = {}
            for name in REGISTRY_TABLES:
                have = (
                    {c["name"] for c in inspect(conn).get_columns(name)} if name in names else set()
                )
                cols = [c for c in tables[name].columns if c.name in have]
                query = select(*cols).order_by(*tables[name].primary_key.columns) if cols else None
                rows[name] = (
                    [dict(r._mapping) for r in conn.execute(query)] if query is not None else []
                )
            return rows
    finally:
        legacy.dispose()


def _read_jobs(path: Path) -> Rows:
    """Every job, event and checkpoint of a legacy jobs.db (hand-written SQLite schema)."""
    _fold_wal(path)
    db = _open(path)
    db.row_factory = sqlite3.Row
    try:
        have = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}

        def read(table: str, order: str) -> list[dict[str, Any]]:
            if table not in have:
                return []
            return [dict(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY {order}")]

        jobs = read("jobs", "rowid")
        events = read("events", "seq")
        checkpoints = read("checkpoints", "rowid")
    finally:
        db.close()
    loads: Callable[[Any], Any] = lambda v: json.loads(v) if v else None  # noqa: E731
    host = socket.gethostname()  # the legacy file was local: so were its jobs
    for j in jobs:
        j.update(
            config=loads(j["config"]) or {}, error=loads(j["error"]), result=loads(j["result"])
        )
        j["cancel_requested"] = bool(j["cancel_requested"])
        j["host"] = host if j["pid"] is not None else None
    for e in events:
        e["data"] = loads(e["data"])
    for c in checkpoints:
        c["metrics"] = loads(c["metrics"]) or {}
    return {
        "fine_tuning_jobs": jobs,
        "fine_tuning_job_events": events,
        "fine_tuning_job_checkpoints": checkpoints,
    }


def _write_registry(conn: Connection, rows: Rows) -> None:
    tables = metadata().tables
    for name in REGISTRY_TABLES:
        if rows[name]:
            conn.execute(insert(tables[name]), [_aware(r) for r in rows[name]])
    _bump_sequences(conn, [t for t in REGISTRY_TABLES if t != "aliases"], "id")


def _write_jobs(conn: Connection, rows: Rows) -> None:
    tables = metadata().tables
    jobs_t, events_t, ck_t = (tables[n] for n in JOB_TABLES)
    existing = set(conn.scalars(select(jobs_t.c.id)))
    jobs = [j for j in rows["fine_tuning_jobs"] if j["id"] not in existing]
    ids = {j["id"] for j in jobs}
    if jobs:
        conn.execute(insert(jobs_t), [{k: v for k, v in j.items() if k != "seq"} for j in jobs])
    events = [e for e in rows["fine_tuning_job_events"] if e["job_id"] in ids]
    # Event ids are kept when they cannot collide (no events yet); else renumbered in order.
    keep_ids = conn.scalar(select(func.count()).select_from(events_t)) == 0
    if events:
        conn.execute(
            insert(events_t),
            [e if keep_ids else {k: v for k, v in e.items() if k != "seq"} for e in events],
        )
    cks = [c for c in rows["fine_tuning_job_checkpoints"] if c["job_id"] in ids]
    if cks:
        conn.execute(insert(ck_t), cks)
    _bump_sequences(conn, list(JOB_TABLES[:2]), "seq")


def _bump_sequences(conn: Connection, tables: list[str], column: str) -> None:
    """PostgreSQL: move each serial sequence past the ids inserted explicitly."""
    if conn.dialect.name != "postgresql":
        return
    for t in tables:
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{t}', '{column}'), "
                f"(SELECT COALESCE(MAX({column}), 0) + 1 FROM {t}), false)"
            )
        )


def _registry_rows(conn: Connection) -> int:
    tables = metadata().tables
    return sum(
        conn.scalar(select(func.count()).select_from(tables[n])) or 0
        for n in ("datasets", "models", "alias_events")
    )


def _fold_wal(path: Path) -> None:
    """Move a WAL's committed pages into the main file, so the renamed file is complete."""
    db = _open(path, timeout=60)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        set_journal_mode(db, "DELETE")
    finally:
        db.close()


def _rename(path: Path) -> None:
    dest = path.with_name(path.name + SUFFIX)
    if dest.exists():
        dest = path.with_name(f"{path.name}.{int(time.time())}{SUFFIX}")
    # Gone already: renamed by another process that found it imported too.
    with contextlib.suppress(FileNotFoundError):
        path.rename(dest)


def _fingerprint(rows: Rows) -> str:
    blob = json.dumps(rows, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _aware(row: dict[str, Any]) -> dict[str, Any]:
    from datetime import datetime

    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}


def _counts(kind: str, rows: Rows) -> str:
    if kind == "registry":
        return (
            f"{len(rows['models'])} models, {len(rows['datasets'])} datasets, "
            f"{len(rows['alias_events'])} alias events"
        )
    return (
        f"{len(rows['fine_tuning_jobs'])} jobs, {len(rows['fine_tuning_job_events'])} events, "
        f"{len(rows['fine_tuning_job_checkpoints'])} checkpoints"
    )


def _sqlite_file(engine: Engine) -> Path | None:
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:":
        return None
    return Path(db).resolve()
