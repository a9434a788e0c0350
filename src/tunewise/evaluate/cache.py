"""The generation cache: completions keyed by (model identity, prompt, settings), in the state folder.

A re-run of the same variant on the same golden set reads every answer from here and costs
nothing. The model identity includes the base and adapter content hashes, so retraining an
adapter in place never serves stale answers. Failed requests are not cached.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_json, sha256_json

from .backends import Backend, Completion, Messages, Settings


class GenerationCache:
    """One JSON file per completion under `<state_dir>/eval-cache/`."""

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            from tunewise.paths import state_dir

            root = state_dir() / "eval-cache"
        self.root = Path(root)

    @staticmethod
    def key(identity: dict[str, Any], messages: Messages, settings: Settings) -> str:
        return sha256_json({"model": identity, "messages": messages, "settings": settings.key()})

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Completion | None:
        try:
            return Completion(**json.loads(self._path(key).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def put(self, key: str, completion: Completion) -> None:
        if completion.error is None:
            atomic_write_json(self._path(key), asdict(completion))


def complete_cached(
    backend: Backend,
    conversations: list[Messages],
    settings: Settings,
    *,
    cache: GenerationCache | None,
    progress: Any = None,
    identity: dict[str, Any] | None = None,
) -> tuple[list[Completion], list[bool]]:
    """Completions in input order, read from the cache where possible; (completions, was_cached).

    `identity` is the backend's, when the caller already has it.
    """
    identity = identity or backend.identity()
    keys = [GenerationCache.key(identity, m, settings) for m in conversations]
    found = [cache.get(k) if cache else None for k in keys]
    hits = [f is not None for f in found]
    if progress is not None:
        progress.advance(sum(hits))
    # Similar lengths together: local batches carry less padding.
    misses = sorted(
        (i for i, f in enumerate(found) if f is None), key=lambda i: len(str(conversations[i]))
    )
    step = max(
        1, settings.batch_size * 4 if identity.get("kind") == "local" else settings.concurrency * 4
    )
    for start in range(0, len(misses), step):
        chunk = misses[start : start + step]
        for i, comp in zip(
            chunk, backend.complete([conversations[i] for i in chunk], settings), strict=True
        ):
            found[i] = comp
            if cache:
                cache.put(keys[i], comp)
        if progress is not None:
            progress.advance(len(chunk))
    return [f for f in found if f is not None], hits
