"""Which database: URL resolution (no SQLAlchemy import, so the CLI can show it cheaply)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_URL = "TUNEWISE_DB_URL"
# The variable of releases that had a separate registry database; still honoured.
ENV_ALIAS = "TUNEWISE_REGISTRY_URL"
DB_NAME = "tunewise.db"


def default_url() -> str:
    """SQLite at `state_dir()/tunewise.db`."""
    from tunewise.paths import state_dir

    return f"sqlite:///{(state_dir(create=False) / DB_NAME).resolve()}"


def resolve_url(url: str | None = None, config_url: str | None = None) -> str:
    """The database URL: explicit argument, then TUNEWISE_DB_URL, then TUNEWISE_REGISTRY_URL,
    then the config's `registry.url`, then SQLite at `state_dir()/tunewise.db`.

    A bare path means a SQLite file; `postgresql://` means the psycopg (3) driver.
    """
    chosen = url or os.environ.get(ENV_URL) or os.environ.get(ENV_ALIAS) or config_url
    if not chosen:
        return default_url()
    if "://" not in chosen:
        return f"sqlite:///{Path(chosen).expanduser().resolve()}"
    if chosen.startswith(("postgresql://", "postgres://")):
        # SQLAlchemy's bare postgresql:// means psycopg2; psycopg 3 is the driver we install.
        chosen = "postgresql+psycopg://" + chosen.split("://", 1)[1]
    return chosen


def display_url(url: str) -> str:
    """`url` with any password replaced by ***, for messages and `tunewise db info`."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    creds, at, host = netloc.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}{slash}{path}"
