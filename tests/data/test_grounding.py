"""Grounding: facts in the answer that the prompt never gave."""

from __future__ import annotations

import pytest

from tunewise.data.grounding import format_reason, ungrounded_entities

TICKET = (
    "Classify into refund, billing, shipping; priority low or high.\n"
    "Hi, my order #48213 placed on 03/03/2024 for $1,200.00 never arrived. "
    "I'm Dana Whitfield, reach me at dana@example.com."
)


@pytest.mark.parametrize(
    "answer",
    [
        "Your order 48213 from March 3 worth $1200 is on its way.",  # same id, date, amount, other forms
        "Dear Dana Whitfield, we emailed dana@example.com about order #48213.",
        "We are sorry. Your refund is on its way. Thanks!",  # sentence-start capitals are not names
        '{"intent": "refund", "priority": "high", "order_id": "#48213"}',
        "It will arrive in 2 days, on 2024-03-03 at the latest.",  # one-digit numbers are ignored
    ],
)
def test_grounded_answers_pass(answer: str) -> None:
    assert ungrounded_entities(answer, TICKET) == []


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Your order #55120 ships on March 9.", ["#55120", "March 9"]),
        (
            "Thanks, Sarah Connor will call you from https://acme.example/help.",
            ["Sarah Connor", "https://acme.example/help"],
        ),
        ("We refunded $89.99 to bob@example.org.", ["$89.99", "bob@example.org"]),
        ('{"intent": "refund", "order_id": "ORD-30077", "amount": 349}', ["ORD-30077", "349"]),
    ],
)
def test_invented_facts_are_flagged(answer: str, expected: list[str]) -> None:
    assert ungrounded_entities(answer, TICKET) == expected


def test_json_keys_are_not_checked_and_enum_values_pass() -> None:
    ctx = "Answer with intent (Refund, Billing) and Priority."
    assert (
        ungrounded_entities('{"Intent": "Refund", "Order_Id": null, "Priority": "High"}', ctx) == []
    )
    assert ungrounded_entities('{"intent": "Billing Dispute"}', ctx) == ["Billing Dispute"]
    assert (
        ungrounded_entities('{"intent": "Billing Dispute"}', ctx, allow=["billing dispute"]) == []
    )


def test_allow_list_and_reason_text() -> None:
    assert (
        ungrounded_entities(
            "Contact Nimbus Support at SKU-9.", "", allow=["Nimbus Support", "sku-9"]
        )
        == []
    )
    reason = format_reason(["#48213", "March 3"])
    assert (
        reason
        == "ungrounded: '#48213', 'March 3' appear in the answer but nowhere in the system or user turns"
    )
