"""What a database holds, for `tunewise db info`: where it is, its schema revision, row counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, inspect, select

from tunewise.store.engine import get_engine
from tunewise.store.migrate import current_revision, head_revision
from tunewise.store.schema import metadata
from tunewise.store.url import display_url, resolve_url


def describe(url: str | None = None, config_url: str | None = None) -> dict[str, Any]:
    """URL (password hidden), dialect, schema revision and head, rows per tunewise table."""
    resolved = resolve_url(url, config_url)
    engine = get_engine(resolved)
    present = set(inspect(engine).get_table_names())
    tables = metadata().tables
    with engine.connect() as conn:
        rows = {
            name: conn.scalar(select(func.count()).select_from(tables[name])) or 0
            for name in sorted(tables)
            if name in present
        }
    return {
        "url": display_url(resolved),
        "dialect": engine.dialect.name,
        "revision": current_revision(engine),
        "head": head_revision(),
        "tables": rows,
    }
