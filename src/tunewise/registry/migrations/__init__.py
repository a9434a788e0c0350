"""Alembic migrations of the registry schema, shipped inside the package.

`tunewise.registry.db.open_engine` runs them on every open (a no-op at head). To add one after
changing `tables.py`:

    python -c "from tunewise.registry.db import alembic_config; from alembic import command; \
command.revision(alembic_config('sqlite:///dev.db'), 'what changed', autogenerate=True)"

then review the generated file in `versions/`.
"""
