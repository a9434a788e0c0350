"""Which modules declare tables of the one database.

A stage that adds tables declares them on `tunewise.store.Base` in its own package, lists the
module here (so migrations and the schema test see every table) and adds a migration in
`migrations/versions/` (revision "NNNN", following the current head).
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

TABLE_MODULES = (
    "tunewise.store.tables",
    "tunewise.registry.tables",
    "tunewise.train.tables",
    "tunewise.serve.finetune.tables",
    "tunewise.serve.tables",
    "tunewise.serve.rollout.tables",
)


def metadata() -> MetaData:
    """The metadata of every table, with all table modules imported."""
    for name in TABLE_MODULES:
        importlib.import_module(name)
    from tunewise.store.base import Base

    return Base.metadata
