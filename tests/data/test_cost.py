"""Training cost, the OpenAI auto-epoch heuristic, the price table and the break-even."""

from __future__ import annotations

import pytest

from tunewise.data.cost import auto_epochs, break_even, estimate_cost, find_price, price_table
from tunewise.data.targets import parse_target


@pytest.mark.parametrize(
    ("n", "epochs"),
    [
        (-1, 0),
        (0, 0),
        (1, 25),
        (10, 10),
        (20, 5),
        (34, 3),
        (1000, 3),
        (8333, 3),
        (8334, 2),
        (10_000, 2),
        (30_000, 1),
    ],
)
def test_auto_epochs_follows_the_cookbook(n: int, epochs: int) -> None:
    assert auto_epochs(n) == epochs


def test_price_table_is_dated_and_complete() -> None:
    table = price_table()
    assert table["as_of"] and "check" in table["note"].lower()
    for name, p in table["models"].items():
        assert set(p) == {"training", "base_input", "base_output", "ft_input", "ft_output"}, name
    for alias, key in table["aliases"].items():
        assert key in table["models"], alias


def test_find_price_exact_alias_prefix_and_ft() -> None:
    assert find_price("openai:gpt-4o-mini-2024-07-18").training == 3.0  # type: ignore[union-attr]
    assert find_price("openai:gpt-4o-mini").model == "openai:gpt-4o-mini-2024-07-18"  # type: ignore[union-attr]
    assert find_price("openai:ft:gpt-4o-2024-08-06:acme::abc").model == "openai:gpt-4o-2024-08-06"  # type: ignore[union-attr]
    assert find_price("bedrock:nova").model == "bedrock:nova-lite"  # type: ignore[union-attr]
    assert find_price("openai:davinci-002") is None


def test_estimate_caps_tokens_at_the_limit_and_multiplies_epochs() -> None:
    target = parse_target("openai:gpt-4o-mini-2024-07-18")
    est = estimate_cost([1_000] * 99 + [100_000], target, epochs="auto")
    assert est.epochs == 3 and est.epochs_auto
    assert est.tokens == 99_000 + 65_536 and est.billed_tokens == 3 * (99_000 + 65_536)
    assert est.training_usd == pytest.approx(est.billed_tokens * 3.0 / 1e6, abs=1e-4)
    fixed = estimate_cost([1_000] * 100, target, epochs=2)
    assert fixed.epochs == 2 and not fixed.epochs_auto
    assert estimate_cost([10] * 5, parse_target("local:smollm2-135m")).training_usd is None


def test_break_even_pays_back_or_never() -> None:
    price = find_price("openai:gpt-4o-mini-2024-07-18")
    assert price is not None
    # 2,000 few-shot tokens removed from a 300-token prompt, 100k requests a month.
    be = break_even(
        30.0,
        price,
        prompt_tokens_saved=2_000,
        monthly_requests=100_000,
        prompt_tokens=300,
        output_tokens=50,
    )
    base = (2_300 * 0.15 + 50 * 0.6) / 1e6 * 100_000
    ft = (300 * 0.3 + 50 * 1.2) / 1e6 * 100_000
    assert be.monthly_cost_base == round(base, 2) and be.monthly_cost_finetuned == round(ft, 2)
    assert be.months_to_break_even == round(30.0 / (base - ft), 2)
    # Nothing removed from the prompt: the fine-tune's doubled price never pays back.
    never = break_even(
        30.0,
        price,
        prompt_tokens_saved=0,
        monthly_requests=100_000,
        prompt_tokens=300,
        output_tokens=50,
    )
    assert never.months_to_break_even is None and never.monthly_savings < 0


def test_estimate_includes_break_even_when_asked() -> None:
    est = estimate_cost(
        [500] * 200,
        parse_target("openai:gpt-4o-mini-2024-07-18"),
        prompt_tokens_saved=1_500,
        monthly_requests=50_000,
        prompt_tokens=200,
        output_tokens=20,
    )
    assert est.break_even is not None and est.break_even.months_to_break_even is not None
    assert est.to_json()["break_even"]["monthly_requests"] == 50_000
