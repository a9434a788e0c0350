"""Output drift: the answers' label mix against training (PSI and chi-squared) and their lengths (KS).

Label-like answers are JSON objects carrying the label field (`{"intent": "refund", ...}`), or
short plain answers from a small set (`refund`). Production answers that are not valid JSON count
as the label `(invalid)`; JSON without the field as `(missing)`, so a broken format shows up in the
mix instead of being dropped.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from tunewise.evaluate.scorers import parse_json

PSI_BANDS = ((0.25, "major"), (0.1, "moderate"), (0.0, "stable"))
_EPS = 1e-4


def answer_label(answer: str, field: str | None) -> str:
    """The label of one answer: the JSON field's value, or the normalized text when field is None."""
    if field is None:
        return " ".join(answer.lower().split()).strip(" .!?")
    try:
        value = parse_json(answer)
    except ValueError:
        return "(invalid)"
    if not isinstance(value, dict) or field not in value:
        return "(missing)"
    return str(value[field])


def label_kind(train_answers: list[str], field: str | None) -> tuple[str | None, str]:
    """How training answers carry a label: ('json', field), ('text', ...) or (None, why not)."""
    if not train_answers:
        return None, "no training answers"
    if field:
        hits = sum(answer_label(a, field) not in {"(invalid)", "(missing)"} for a in train_answers)
        if hits >= 0.8 * len(train_answers):
            return "json", field
    short = [a for a in train_answers if len(a) <= 40 and len(a.split()) <= 5]
    distinct = len({answer_label(a, None) for a in short})
    if len(short) >= 0.9 * len(train_answers) and distinct <= min(100, max(2, len(short) // 2)):
        return "text", "plain short answers"
    return None, f"answers are not label-like (no JSON field '{field}', not short plain labels)"


def psi(expected: dict[str, int], actual: dict[str, int]) -> float:
    """Population stability index over the union of labels (shares floored at 1e-4)."""
    te, ta = sum(expected.values()) or 1, sum(actual.values()) or 1
    total = 0.0
    for label in set(expected) | set(actual):
        e = max(expected.get(label, 0) / te, _EPS)
        a = max(actual.get(label, 0) / ta, _EPS)
        total += (a - e) * math.log(a / e)
    return total


def psi_band(value: float) -> str:
    return next(name for cut, name in PSI_BANDS if value >= cut)


class AnswerStats:
    """The production answers' label counts and length histogram, added one at a time (memory
    grows with the number of labels and distinct lengths, not with the answers)."""

    def __init__(self, train_answers: list[str], field: str | None) -> None:
        self.kind, self.why = label_kind(train_answers, field)
        self.key = field if self.kind == "json" else None
        self.labels: Counter[str] = Counter()
        self.lengths: Counter[int] = Counter()

    def add(self, answer: str) -> None:
        if self.kind is not None:
            self.labels[answer_label(answer, self.key)] += 1
        self.lengths[len(answer)] += 1


def label_drift(
    train_answers: list[str], prod_answers: list[str], field: str | None
) -> dict[str, Any]:
    """Label mix of production answers against training: shares, PSI with its band, chi-squared."""
    stats = AnswerStats(train_answers, field)
    for a in prod_answers:
        stats.add(a)
    return label_drift_counts(train_answers, stats)


def label_drift_counts(train_answers: list[str], stats: AnswerStats) -> dict[str, Any]:
    """`label_drift` from the counts an `AnswerStats` collected."""
    from scipy.stats import chi2_contingency

    prod, n_prod = stats.labels, sum(stats.labels.values())
    if stats.kind is None or not n_prod:
        return {"skipped": stats.why if stats.kind is None else "no sampled production answers"}
    train = Counter(answer_label(a, stats.key) for a in train_answers)
    labels = sorted(set(train) | set(prod), key=lambda lab: (-train[lab] - prod[lab], lab))
    table = [[train[lab] for lab in labels], [prod[lab] for lab in labels]]
    p = float(chi2_contingency(table)[1]) if len(labels) > 1 else 1.0
    value = psi(dict(train), dict(prod))
    return {
        "field": stats.key, "kind": stats.kind, "n_train": len(train_answers), "n_production": n_prod,
        "labels": [{"label": lab, "train_share": train[lab] / len(train_answers),
                    "production_share": prod[lab] / n_prod} for lab in labels],
        "psi": value, "psi_band": psi_band(value), "chi2_p": p,
    }  # fmt: skip


def length_drift(train_answers: list[str], prod_answers: list[str]) -> dict[str, Any]:
    """Answer lengths in characters: means and the two-sample KS test."""
    return length_drift_counts(
        Counter(len(x) for x in train_answers), Counter(len(x) for x in prod_answers)
    )


KS_EXACT_MAX = 10_000  # scipy's ks_2samp computes the exact p-value up to this many per side


def _ks(a: Counter[int], b: Counter[int]) -> tuple[float, float]:
    """Two-sample KS statistic and p-value from length histograms: scipy's exact test while both
    sides are small enough for it (the same figures as on the raw lengths), else the statistic
    from the two step functions and Smirnov's asymptotic p-value, as scipy's 'asymp' mode."""
    from scipy.stats import kstwo

    n1, n2 = sum(a.values()), sum(b.values())
    if max(n1, n2) <= KS_EXACT_MAX:
        from scipy.stats import ks_2samp

        res = ks_2samp(list(a.elements()), list(b.elements()))
        return float(res.statistic), float(res.pvalue)
    d = c1 = c2 = 0.0
    for x in sorted(set(a) | set(b)):
        c1, c2 = c1 + a[x] / n1, c2 + b[x] / n2
        d = max(d, abs(c1 - c2))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return d, float(kstwo.sf(d, round(m * n / (m + n))))


def length_drift_counts(train: Counter[int], prod: Counter[int]) -> dict[str, Any]:
    """`length_drift` from histograms of lengths (length -> count)."""
    n1, n2 = sum(train.values()), sum(prod.values())
    if n1 < 2 or n2 < 2:
        return {"skipped": "needs 2+ answers a side"}
    ks, p = _ks(train, prod)
    return {"n_train": n1, "n_production": n2,
            "train_mean": sum(k * v for k, v in train.items()) / n1,
            "production_mean": sum(k * v for k, v in prod.items()) / n2,
            "ks": ks, "p_value": p}  # fmt: skip
