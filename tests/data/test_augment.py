"""Entity swap: the id changes in the user text and in the JSON answer together."""

from __future__ import annotations

import json

from tunewise.data.augment import entity_swap
from tunewise.data.config import AugmentConfig
from tunewise.data.schema import Row, Source


def ticket(user: str, answer: str, line: int = 7) -> Row:
    msgs = [
        {"role": "system", "content": "Classify. ORD ids."},
        {"role": "user", "content": user},
        {"role": "assistant", "content": answer},
    ]
    return Row(messages=msgs, source=Source("tickets.jsonl", line), tags=["intent:shipping"])


ROW = ticket(
    "Where is ORD-48213? I ordered it with ORD-48213 on May 2.",
    '{"intent": "shipping", "order_id": "ORD-48213"}',
)


def test_swaps_in_both_places_with_same_shape() -> None:
    new = entity_swap([ROW], AugmentConfig(enabled=True, copies=2, seed=1))
    assert len(new) == 2
    values = set()
    for aug in new:
        answer = json.loads(aug.messages[2]["content"])
        value = answer["order_id"]
        values.add(value)
        assert (
            value != "ORD-48213" and len(value) == 9 and value[:4] == "ORD-" and value[4:].isdigit()
        )
        assert (
            aug.messages[1]["content"] == f"Where is {value}? I ordered it with {value} on May 2."
        )
        assert aug.messages[0] == ROW.messages[0]
        assert (
            aug.provenance == "synthetic"
            and "augmented" in aug.tags
            and f"augmented_from:{ROW.id}" in aug.tags
        )
        assert "intent:shipping" in aug.tags
        assert (aug.source.file, aug.source.line) == ("tickets.jsonl", 7)
        assert aug.id != ROW.id
    assert len(values) == 2
    assert ROW.messages[1]["content"].startswith("Where is ORD-48213")  # original untouched


def test_deterministic_and_seeded() -> None:
    a = entity_swap([ROW], AugmentConfig(copies=1, seed=0))
    b = entity_swap([ROW], AugmentConfig(copies=1, seed=0))
    c = entity_swap([ROW], AugmentConfig(copies=1, seed=5))
    assert [r.to_json() for r in a] == [r.to_json() for r in b]
    assert a[0].messages != c[0].messages


def test_ineligible_rows_are_skipped() -> None:
    cfg = AugmentConfig(copies=1)
    not_json = ticket("ORD-1 late", "shipping")
    not_in_ticket = ticket("My parcel is late", '{"order_id": "ORD-55120"}')
    inside_longer = ticket("Order ORD-481234 late", '{"order_id": "ORD-48123"}')
    assert entity_swap([not_json, not_in_ticket, inside_longer], cfg) == []


def test_values_without_digits_get_new_letters() -> None:
    row = ticket("Coupon SPRING is not accepted", '{"coupon": "SPRING"}')
    (aug,) = entity_swap([row], AugmentConfig(field="coupon"))
    value = json.loads(aug.messages[2]["content"])["coupon"]
    assert (
        value != "SPRING"
        and value.isupper()
        and len(value) == 6
        and value in aug.messages[1]["content"]
    )


def test_integer_values_stay_integers() -> None:
    row = ticket("Ticket 40213 is open", '{"ticket": 40213}')
    (aug,) = entity_swap([row], AugmentConfig(field="ticket"))
    value = json.loads(aug.messages[2]["content"])["ticket"]
    assert (
        isinstance(value, int)
        and value != 40213
        and f"Ticket {value} is open" == aug.messages[1]["content"]
    )
