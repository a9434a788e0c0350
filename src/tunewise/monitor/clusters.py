"""Which kinds of input grew: KMeans over training and production embeddings together, then per
cluster its share of training rows against its share of production rows; and which kinds of input
are new: KMeans over the production outliers (inputs far from every training row).

A cluster 'grew' when its production share is higher and a 2x2 chi-squared test (training vs
production, in vs out of the cluster) is significant at 0.01 after a Bonferroni correction over
the clusters. Each cluster carries its most distinctive words and the production inputs nearest
its centre, PII-scrubbed with the data stage's scrubber.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from tunewise.data.pii_regex import regex_spans

ALPHA = 0.01
MIN_NEW = 10  # outliers per new-input cluster, at least
FIT_ROWS = 4000  # KMeans is fitted on a sample this large, then assigns every row
_STOP = set(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "my",
        "me",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "yours",
        "am",
        "im",
        "i'm",
        "dont",
        "can't",
        "it's",
        "into",
        "just",
    ]
)


def _words(text: str) -> set[str]:
    """The words of a text, PII the regex engine finds (emails, phones, ...) cut out first."""
    for start, end, _ in sorted(regex_spans(text), reverse=True):
        text = text[:start] + " " + text[end:]
    return set(re.findall(r"\b[a-z][a-z']+", text.lower()))


def _terms(words: list[set[str]], background: Counter[str], total: int, k: int = 5) -> list[str]:
    """Words much more frequent in these texts than in all inputs (log-odds with smoothing). A
    term must occur in 10% of the cluster's texts (and 3 or more), so a name never becomes one."""
    mine = Counter(w for ws in words for w in ws)
    n = max(1, len(words))
    score = {
        w: math.log((c + 0.5) / n) - math.log((background[w] + 1) / (total + 1))
        for w, c in mine.items()
        if w not in _STOP and c >= max(3, 0.1 * n)
    }
    return [w for w, _ in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def _p_value(a_in: int, a_n: int, b_in: int, b_n: int) -> float:
    from scipy.stats import chi2_contingency

    table = [[a_in, a_n - a_in], [b_in, b_n - b_in]]
    if min(a_in + b_in, a_n + b_n - a_in - b_in) == 0:
        return 1.0
    return float(chi2_contingency(table)[1])


def _kmeans(x: Any, k: int, seed: int) -> tuple[Any, Any]:
    """(labels of every row, centres): fitted on at most FIT_ROWS sampled rows."""
    import numpy as np
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    fit_rows = x if len(x) <= FIT_ROWS else x[rng.choice(len(x), FIT_ROWS, replace=False)]
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(fit_rows)
    return km.predict(x), km.cluster_centers_


def _examples(vecs: Any, texts: list[str], members: Any, centre: Any, n: int) -> list[str]:
    """The distinct texts of the members nearest the centre."""
    import numpy as np

    dist = ((vecs[members] - centre) ** 2).sum(axis=1)
    ordered = dict.fromkeys(texts[i] for i in members[np.argsort(dist, kind="stable")])
    return list(ordered)[:n]


def grown_clusters(
    train: Any,
    prod: Any,
    train_texts: list[str],
    prod_texts: list[str],
    *,
    k: int,
    seed: int,
    examples: int,
    scrub: Callable[[str], str],
) -> list[dict[str, Any]]:
    """Every cluster with its training and production shares, largest growth first."""
    import numpy as np

    m, n = len(train), len(prod)
    k = min(k, m + n - 1)
    if m == 0 or n == 0 or k < 2:
        return []
    labels, centres = _kmeans(np.vstack([train, prod]), k, seed)
    lab_t, lab_p = labels[:m], labels[m:]
    words = [_words(t) for t in [*train_texts, *prod_texts]]
    background = Counter(w for ws in words for w in ws)
    out = []
    for c in range(k):
        t_in, p_in = int((lab_t == c).sum()), int((lab_p == c).sum())
        nearest = _examples(prod, prod_texts, np.flatnonzero(lab_p == c), centres[c], examples)
        p = min(1.0, _p_value(t_in, m, p_in, n) * k)
        out.append({
            "cluster": c,
            "train_share": t_in / m,
            "production_share": p_in / n,
            "growth": p_in / n - t_in / m,
            "p_value": p,
            "grew": p_in / n > t_in / m and p < ALPHA,
            "terms": _terms([words[i] for i in np.flatnonzero(labels == c)], background, len(words)),
            "examples": [scrub(t) for t in nearest],
        })  # fmt: skip
    return sorted(out, key=lambda r: -r["growth"])


def new_inputs(
    train_texts: list[str],
    prod: Any,
    prod_texts: list[str],
    far: Any,
    *,
    k: int,
    seed: int,
    examples: int,
    scrub: Callable[[str], str],
) -> list[dict[str, Any]]:
    """Kinds of input the training set has nothing near: KMeans over the production outliers
    alone (a new topic written with known product names would otherwise sink into the product
    clusters above). Each with its share of all production inputs, largest first."""
    import numpy as np

    idx = np.flatnonzero(far)
    k = min(k, len(idx) // MIN_NEW)
    if k < 1:
        return []
    labels, centres = (
        _kmeans(prod[idx], k, seed)
        if k > 1
        else (np.zeros(len(idx), int), prod[idx].mean(0, keepdims=True))
    )
    words = [_words(t) for t in [*train_texts, *prod_texts]]
    background = Counter(w for ws in words for w in ws)
    out = []
    for c in range(k):
        members = idx[labels == c]
        out.append({
            "cluster": c,
            "production_share": len(members) / len(prod),
            "n": len(members),
            "terms": _terms([words[len(train_texts) + i] for i in members], background, len(words)),
            "examples": [scrub(t) for t in _examples(prod, prod_texts, members, centres[c], examples)],
        })  # fmt: skip
    return sorted(out, key=lambda r: -r["n"])
