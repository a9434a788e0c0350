"""What a hosted fine-tune costs, and how long until it pays for itself.

Training cost = epochs x sum over examples of min(limit, tokens) x the training price. When epochs
are "auto" the OpenAI cookbook heuristic picks them. The break-even compares serving the base
model with a long prompt (e.g. few-shot examples) against the fine-tuned model with that prompt
removed, at the fine-tuned model's higher per-token price. Prices live in `prices.json`, labelled
with the date they were taken; they must be checked before anyone budgets with them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from tunewise.data.targets import Target


@dataclass(frozen=True)
class Price:
    """Dollars per 1M tokens for one hosted model."""

    model: str
    training: float
    base_input: float
    base_output: float
    ft_input: float
    ft_output: float


@dataclass(frozen=True)
class BreakEven:
    """Monthly inference cost before/after the fine-tune and the months needed to recoup training."""

    prompt_tokens_saved: int
    monthly_requests: int
    prompt_tokens: int
    output_tokens: int
    monthly_cost_base: float
    monthly_cost_finetuned: float
    monthly_savings: float
    months_to_break_even: float | None
    """None when the fine-tune never pays back (its higher per-token price outweighs the saving)."""


@dataclass(frozen=True)
class CostEstimate:
    """Training cost of a dataset on a hosted target (None figures when the model has no price)."""

    target: str
    examples: int
    tokens: int
    epochs: int
    epochs_auto: bool
    billed_tokens: int
    training_usd: float | None
    price: Price | None
    prices_as_of: str
    note: str
    break_even: BreakEven | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    """The bundled price table (`data/prices.json`)."""
    return json.loads(
        resources.files("tunewise.data").joinpath("prices.json").read_text(encoding="utf-8")
    )


def find_price(target_spec: str) -> Price | None:
    """Price of a target spec: exact, alias, then the longest known prefix (`gpt-4o-mini-2024-07-18...`)."""
    table = price_table()
    models, aliases = table["models"], table["aliases"]
    key = aliases.get(target_spec, target_spec)
    if key not in models:
        kind, _, name = target_spec.partition(":")
        if name.startswith("ft:"):  # ft:gpt-4o-mini-2024-07-18:org::id -> its base
            name = name.split(":")[1]
        candidates = [k for k in [*models, *aliases] if f"{kind}:{name}".startswith(k)]
        if not candidates:
            return None
        best = max(candidates, key=len)
        key = aliases.get(best, best)
    return Price(key, **models[key])


def auto_epochs(n_examples: int) -> int:
    """What `epochs: auto` means, for cost estimates and local training alike.

    OpenAI's cookbook heuristic: 3 epochs, raised toward 100 examples seen (at most 25), lowered
    toward 25,000 (at least 1); no examples, no epochs.
    """
    if n_examples <= 0:
        return 0
    if n_examples * 3 < 100:
        return min(25, 100 // n_examples)
    if n_examples * 3 > 25_000:
        return max(1, 25_000 // n_examples)
    return 3


def estimate_cost(
    token_counts: Sequence[int],
    target: Target,
    *,
    epochs: int | str = "auto",
    prompt_tokens_saved: int = 0,
    monthly_requests: int = 0,
    prompt_tokens: int = 0,
    output_tokens: int = 0,
) -> CostEstimate:
    """Training cost for `token_counts` (one per example) and, if asked, the break-even point.

    `prompt_tokens` / `output_tokens` are the per-request sizes after fine-tuning (typically the
    dataset's mean prompt and answer); `prompt_tokens_saved` is what the fine-tune removes from
    every request (e.g. a few-shot block).
    """
    n = len(token_counts)
    is_auto = epochs == "auto"
    n_epochs = auto_epochs(n) if is_auto else int(epochs)
    tokens = sum(min(t, target.max_tokens) for t in token_counts)
    billed = tokens * n_epochs
    price = find_price(target.spec) if target.kind != "local" else None
    table = price_table()
    if target.kind == "local":
        note = "local training: no provider bill (your own compute time)"
    elif price is None:
        note = f"no price for {target.spec} in prices.json; add it to get a dollar figure"
    else:
        note = f"prices taken {table['as_of']} ({price.model}); check the provider's price page before budgeting"
    if not target.tokens_exact:
        note += "; token counts use cl100k_base as a proxy for the provider's tokenizer"
    training = None if price is None else round(billed * price.training / 1e6, 4)
    be = None
    if price is not None and training is not None and monthly_requests > 0:
        be = break_even(
            training, price, prompt_tokens_saved, monthly_requests, prompt_tokens, output_tokens
        )
    return CostEstimate(
        target.spec, n, tokens, n_epochs, is_auto, billed, training, price, table["as_of"], note, be
    )


def break_even(
    training_usd: float,
    price: Price,
    prompt_tokens_saved: int,
    monthly_requests: int,
    prompt_tokens: int,
    output_tokens: int,
) -> BreakEven:
    """Months until the inference saving of a shorter prompt recoups the training cost."""
    per_base = (
        (prompt_tokens + prompt_tokens_saved) * price.base_input + output_tokens * price.base_output
    ) / 1e6
    per_ft = (prompt_tokens * price.ft_input + output_tokens * price.ft_output) / 1e6
    base_month = per_base * monthly_requests
    ft_month = per_ft * monthly_requests
    savings = base_month - ft_month
    months = round(training_usd / savings, 2) if savings > 0 else None
    return BreakEven(
        prompt_tokens_saved,
        monthly_requests,
        prompt_tokens,
        output_tokens,
        round(base_month, 2),
        round(ft_month, 2),
        round(savings, 2),
        months,
    )
