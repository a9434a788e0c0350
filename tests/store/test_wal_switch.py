"""Opening a fresh SQLite database while another connection writes to it: the switch to WAL waits
for the writer (SQLite takes that lock without calling the busy handler)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text

from tunewise.store.engine import open_engine


def test_wal_switch_waits_for_a_writer_of_a_fresh_database(tmp_path: Path) -> None:
    path = tmp_path / "tunewise.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("SELECT * FROM t").fetchall()  # a write transaction: holds the reserved lock
    timer = threading.Timer(0.5, lambda: writer.execute("COMMIT"))
    timer.start()
    try:
        engine = open_engine(f"sqlite:///{path}")
    finally:
        timer.join()
        writer.close()
    with engine.connect() as conn:
        assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
    engine.dispose()
