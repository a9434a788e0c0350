"""The gateway's view of the store: aliases and models (the registry's tables), flags and API
keys, read in one transaction per refresh (every `serve.flags_ttl_s`, on a worker thread)."""

from __future__ import annotations

from typing import Any

from tunewise.serve.auth import KeyInfo, KeyRing
from tunewise.serve.catalog import Catalog, load_catalog


class StoreView:
    def __init__(self, url: str, ring: KeyRing) -> None:
        self.url = url
        self.ring = ring
        ring.lookup = self.find_key
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from tunewise.store import get_engine

            self._engine = get_engine(self.url)
        return self._engine

    def catalog(self) -> Catalog:
        """A fresh catalog; the key ring is swapped in the same pass."""
        from tunewise.serve.flags import read_flags
        from tunewise.serve.keys import live_keys
        from tunewise.store import transaction

        with transaction(self.engine) as s:
            catalog = load_catalog(s, read_flags(s))
            keys = live_keys(s)
        # Plain attribute swaps: the event loop sees the old ring or the new one, never a mix.
        self.ring.keys, self.ring.misses = keys, set()
        self.ring.any_keys = bool(keys)
        return catalog

    def find_key(self, digest: str) -> KeyInfo | None:
        from tunewise.serve.keys import find_key

        return find_key(self.engine, digest)
