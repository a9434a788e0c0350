"""SQLite's journal mode, switched without failing on a busy database."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

BUSY_TIMEOUT_S = 60.0


def set_journal_mode(cur: Any, mode: str) -> None:
    """Switch an SQLite connection's journal mode, waiting for other connections like the busy
    timeout would.

    The switch needs an exclusive lock that SQLite takes without calling the busy handler, so
    processes opening a fresh database at once would get "database is locked" at once.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            cur.execute(f"PRAGMA journal_mode={mode}")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
