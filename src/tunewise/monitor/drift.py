"""Input drift on sentence embeddings: a domain classifier and nearest-neighbour outliers.

Domain classifier (Evidently's default for embeddings): a logistic regression learns to tell
production inputs from training inputs; its cross-validated ROC AUC is 0.5 when the two are
indistinguishable. Drift is called at AUC > `threshold` (0.55) and, for training sets under
`bootstrap_below` rows, also above the 95th percentile of AUCs that random scores get on the same
labels (a null that accounts for small samples).

Outliers: the training set's own nearest-neighbour cosine distances (each row to its closest other
row) give a radius at their 95th percentile; a production input farther than that from every
training row is an outlier. Without drift about 5% are.
"""

from __future__ import annotations

import math
from typing import Any

NULL_DRAWS = 200
MIN_ROWS = 10


def null_se(n_train: int, n_prod: int) -> float:
    """Standard error of ROC AUC under no difference (Mann-Whitney): sqrt((m+n+1) / 12mn)."""
    if n_train < 1 or n_prod < 1:
        return float("nan")
    return math.sqrt((n_train + n_prod + 1) / (12 * n_train * n_prod))


def auc(labels: Any, scores: Any) -> float:
    """ROC AUC from ranks (Mann-Whitney U; ties share their average rank): the same value as
    sklearn's roc_auc_score without its per-call validation cost, which the null draws repeat."""
    import numpy as np
    from scipy.stats import rankdata

    labels = np.asarray(labels, dtype=bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def random_auc_q95(n0: int, n1: int, seed: int, draws: int = NULL_DRAWS) -> float:
    """95th percentile of the AUCs random scores get with n0 training and n1 production rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ranks = rng.random((draws, n0 + n1)).argsort(axis=1).argsort(axis=1)[:, n0:] + 1.0
    aucs = (ranks.sum(axis=1) - n1 * (n1 + 1) / 2) / (n0 * n1)
    return float(np.percentile(aucs, 95))


def _oof_scores(x: Any, y: Any, seed: int) -> Any:
    """Out-of-fold P(production) for every row (stratified k-fold, k <= 5)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = int(min(5, np.bincount(y).min()))
    clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=500)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]


def domain_classifier(
    train: Any,
    prod: Any,
    *,
    threshold: float = 0.55,
    bootstrap_below: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, Any], Any]:
    """(verdict, out-of-fold scores of all rows, training first) of production-vs-training:
    cross-validated ROC AUC, the random-score null and whether that is drift."""
    import numpy as np

    m, n = len(train), len(prod)
    out: dict[str, Any] = {"n_train": m, "n_production": n, "threshold": threshold}
    if m < MIN_ROWS or n < MIN_ROWS:
        skipped = {
            **out,
            "auc": None,
            "drifted": False,
            "skipped": f"needs {MIN_ROWS}+ rows a side",
        }
        return skipped, None
    x = np.vstack([train, prod])
    y = np.r_[np.zeros(m, dtype=int), np.ones(n, dtype=int)]
    scores = _oof_scores(x, y, seed)
    value = auc(y, scores)
    bootstrap = m < bootstrap_below
    q95 = random_auc_q95(m, n, seed) if bootstrap else None
    drifted = value > threshold and (q95 is None or value > q95)
    verdict = {**out, "auc": value, "bootstrap": bootstrap, "null_q95": q95,
               "null_se": null_se(m, n), "drifted": bool(drifted)}  # fmt: skip
    return verdict, scores


def _max_sims(a: Any, b: Any, exclude_self: bool = False, chunk: int = 2048) -> Any:
    """For each row of a, the highest cosine similarity to a row of b (unit vectors)."""
    import numpy as np

    best = np.empty(len(a), dtype=np.float32)
    for i in range(0, len(a), chunk):
        sims = a[i : i + chunk] @ b.T
        if exclude_self:
            rows = np.arange(sims.shape[0])
            sims[rows, rows + i] = -np.inf
        best[i : i + chunk] = sims.max(axis=1)
    return best


def nn_outliers(train: Any, prod: Any, quantile: float = 0.95) -> tuple[float, Any]:
    """(radius, bool per production row): farther from training than `quantile` of train's own
    nearest-neighbour distances."""
    import numpy as np

    if len(train) < 2 or len(prod) == 0:
        return float("nan"), np.zeros(len(prod), dtype=bool)
    radius = float(np.quantile(1.0 - _max_sims(train, train, exclude_self=True), quantile))
    return radius, (1.0 - _max_sims(prod, train)) > radius


def drift_by_day(
    scores: Any, n_train: int, days: list[str], outliers: Any, *, threshold: float
) -> list[dict[str, Any]]:
    """Drift over time from the one cross-validated classifier: per day, the AUC of that day's
    out-of-fold scores against the training rows' (no refit per day), with a one-sided 95% null
    from the Mann-Whitney normal approximation (days are small), and the day's outlier share."""
    import numpy as np

    days_arr = np.asarray(days)
    train_scores, prod_scores = scores[:n_train], scores[n_train:]
    out = []
    for day in sorted(set(days)):
        sel = days_arr == day
        k = int(sel.sum())
        y = np.r_[np.zeros(n_train, dtype=int), np.ones(k, dtype=int)]
        value = auc(y, np.r_[train_scores, prod_scores[sel]])
        q95 = 0.5 + 1.645 * null_se(n_train, k)
        out.append({"day": day, "n": k, "auc": value, "null_q95": q95,
                    "drifted": value > threshold and value > q95,
                    "outlier_share": float(outliers[sel].mean())})  # fmt: skip
    return out
