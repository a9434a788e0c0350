"""A check before scoring: a golden answer longer than `eval.max_new_tokens` cannot be matched.

The decoder stops at the budget, so such a case scores wrong however good the model is, while the
embedding classifier (which answers a label, not tokens) is not cut: the comparison tilts. Banking77's
`balance_not_updated_after_cheque_or_cash_deposit` is 18 SmolLM2 tokens; with a budget of 16, all 20
of its held-out rows failed exact match and the fine-tune read 80% instead of 89%.
"""

from __future__ import annotations

import json
from pathlib import Path


def cut_answers(golden: Path, base: str, max_new_tokens: int) -> str | None:
    """A warning naming how many expected answers exceed the budget (in `base`'s tokens), or None
    when all fit or the base's tokenizer is not on this machine (a hosted model)."""
    from tunewise.data.tokens import base_tokenizer
    from tunewise.evaluate.golden import load_golden

    try:
        tok = base_tokenizer(base)
    except Exception:  # a hosted or unreachable base: its tokenizer is not ours to count with
        return None
    cases = load_golden(golden).cases
    texts = [c.expected if isinstance(c.expected, str) else json.dumps(c.expected) for c in cases]
    lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    over = [(n, c) for n, c in zip(lengths, cases, strict=True) if n > max_new_tokens]
    if not over:
        return None
    longest, case = max(over, key=lambda p: p[0])
    return (
        f"eval.max_new_tokens is {max_new_tokens} but {len(over)} of {len(cases)} golden answers are "
        f"longer (longest: case {case.id}, {longest} tokens); those cases are cut off and score "
        f"wrong for every generated variant: raise eval.max_new_tokens to at least {longest}"
    )
