"""Reading the gateway's view of the store: aliases and models (the registry's tables), flags
and API keys, as one snapshot per refresh."""

from __future__ import annotations

from typing import Any

from tunewise.serve.catalog import Catalog, load_catalog


class StoreView:
    """Opens the store at `url` lazily; `catalog()` is called on a worker thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from tunewise.registry.db import open_engine

            self._engine = open_engine(self.url)
        return self._engine

    def session(self) -> Any:
        from sqlalchemy.orm import Session

        return Session(self.engine, expire_on_commit=False)

    def catalog(self) -> Catalog:
        with self.session() as s, s.begin():
            return load_catalog(s, {})
