"""The one tunewise database: registry, fine-tuning jobs and every table later stages add.

    from tunewise.store import get_engine, transaction
    engine = get_engine()                 # TUNEWISE_DB_URL, else .tunewise/tunewise.db
    with transaction(engine) as session:  # one transaction: committed, or rolled back on error
        ...

SQLite by default, PostgreSQL by URL; Alembic migrations (one linear chain in `migrations/`)
bring the schema to head the first time a process opens a URL. Each stage keeps its tables in
its own package on the shared `Base` (see `schema.py`). Importing this package is cheap:
SQLAlchemy loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunewise.store.url import ENV_ALIAS, ENV_URL, display_url, resolve_url

if TYPE_CHECKING:
    from tunewise.store.base import Base
    from tunewise.store.engine import dispose_engines, get_engine, transaction

__all__ = [
    "ENV_ALIAS",
    "ENV_URL",
    "Base",
    "display_url",
    "dispose_engines",
    "get_engine",
    "resolve_url",
    "transaction",
]

_LAZY = {
    "Base": "tunewise.store.base",
    "get_engine": "tunewise.store.engine",
    "transaction": "tunewise.store.engine",
    "dispose_engines": "tunewise.store.engine",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tunewise.store' has no attribute {name!r}")
