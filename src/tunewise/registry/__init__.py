"""The model registry: datasets, jobs, models, evals, gate decisions and per-feature aliases.

`Registry` (in `store.py`) is the API; importing this package stays cheap (SQLAlchemy and
Alembic load only when a Registry is created).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunewise.registry.store import Registry

__all__ = ["Registry"]


def __getattr__(name: str) -> Any:
    if name == "Registry":
        from tunewise.registry.store import Registry

        return Registry
    raise AttributeError(f"module 'tunewise.registry' has no attribute {name!r}")
