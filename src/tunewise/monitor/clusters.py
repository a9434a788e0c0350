"""Which kinds of input grew: KMeans over training and production embeddings together, then per
cluster its share of training rows against its share of production rows.

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
FIT_ROWS = 4000  # KMeans is fitted on a sample this large, then assigns every row
_STOP = set(
    "a an and are as at be been but by can do does for from has have how i if in is it its my me "
    "no not of on or our so that the this to was we what when where which who why will with you "
    "your yours am im i'm dont can't it's into just".split()
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
    from sklearn.cluster import KMeans

    m, n = len(train), len(prod)
    k = min(k, m + n - 1)
    if m == 0 or n == 0 or k < 2:
        return []
    x = np.vstack([train, prod])
    rng = np.random.default_rng(seed)
    fit_rows = x if len(x) <= FIT_ROWS else x[rng.choice(len(x), FIT_ROWS, replace=False)]
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(fit_rows)
    labels = km.predict(x)
    lab_t, lab_p = labels[:m], labels[m:]
    words = [_words(t) for t in [*train_texts, *prod_texts]]
    background = Counter(w for ws in words for w in ws)
    out = []
    for c in range(k):
        t_in, p_in = int((lab_t == c).sum()), int((lab_p == c).sum())
        members = np.flatnonzero(lab_p == c)
        dist = ((prod[members] - km.cluster_centers_[c]) ** 2).sum(axis=1)
        nearest = list(dict.fromkeys(prod_texts[i] for i in members[np.argsort(dist, kind="stable")]))
        p = min(1.0, _p_value(t_in, m, p_in, n) * k)
        out.append({
            "cluster": c,
            "train_share": t_in / m,
            "production_share": p_in / n,
            "growth": p_in / n - t_in / m,
            "p_value": p,
            "grew": p_in / n > t_in / m and p < ALPHA,
            "terms": _terms([words[i] for i in np.flatnonzero(labels == c)], background, len(words)),
            "examples": [scrub(t) for t in nearest[:examples]],
        })  # fmt: skip
    return sorted(out, key=lambda r: -r["growth"])
