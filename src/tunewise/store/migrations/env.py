"""Alembic environment: runs on the connection `tunewise.store.migrate` passes in, inside its
transaction (so concurrent openers of a fresh database serialize on that transaction's lock)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from tunewise.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
target = metadata()

if connection is None:  # developer use (alembic revision --autogenerate)
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
