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


def label_drift(
    train_answers: list[str], prod_answers: list[str], field: str | None
) -> dict[str, Any]:
    """Label mix of production answers against training: shares, PSI with its band, chi-squared."""
    from scipy.stats import chi2_contingency

    kind, why = label_kind(train_answers, field)
    if kind is None or not prod_answers:
        return {"skipped": why if kind is None else "no sampled production answers"}
    key = field if kind == "json" else None
    train = Counter(answer_label(a, key) for a in train_answers)
    prod = Counter(answer_label(a, key) for a in prod_answers)
    labels = sorted(set(train) | set(prod), key=lambda lab: (-train[lab] - prod[lab], lab))
    table = [[train[lab] for lab in labels], [prod[lab] for lab in labels]]
    p = float(chi2_contingency(table)[1]) if len(labels) > 1 else 1.0
    value = psi(dict(train), dict(prod))
    return {
        "field": key, "kind": kind, "n_train": len(train_answers), "n_production": len(prod_answers),
        "labels": [{"label": lab, "train_share": train[lab] / len(train_answers),
                    "production_share": prod[lab] / len(prod_answers)} for lab in labels],
        "psi": value, "psi_band": psi_band(value), "chi2_p": p,
    }  # fmt: skip


def length_drift(train_answers: list[str], prod_answers: list[str]) -> dict[str, Any]:
    """Answer lengths in characters: means and the two-sample KS test."""
    from scipy.stats import ks_2samp

    if len(train_answers) < 2 or len(prod_answers) < 2:
        return {"skipped": "needs 2+ answers a side"}
    a, b = [len(x) for x in train_answers], [len(x) for x in prod_answers]
    res = ks_2samp(a, b)
    return {"n_train": len(a), "n_production": len(b), "train_mean": sum(a) / len(a),
            "production_mean": sum(b) / len(b), "ks": float(res.statistic),
            "p_value": float(res.pvalue)}  # fmt: skip
