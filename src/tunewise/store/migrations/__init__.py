"""Alembic migrations of the one tunewise database (one linear chain, revision ids "NNNN").

`tunewise.store.get_engine` runs them the first time a process opens a URL (a no-op at head).
Revision 0001 is the registry schema of the release that had a separate registry.db, so such a
file upgrades in place. To add one after changing a stage's tables:

    python -c "from tunewise.store.migrate import alembic_config; from alembic import command; \
command.revision(alembic_config('sqlite:///dev.db'), 'what changed', autogenerate=True, \
rev_id='0003')"

then review the generated file in `versions/` (name it `NNNN_slug.py`).
"""
