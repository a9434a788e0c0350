"""Streaming detokenization: deltas add up to the decoded text, whole characters only; stop strings."""

from __future__ import annotations

import pytest

from tunewise.serve.detok import IncrementalDecoder

TEXT = "Crème brûlée costs 5 €, 東京 is 🎉🎉 fun;\n  indented   spaces\tand tabs. Ünïcödé!"


@pytest.fixture(scope="module")
def tok(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def stream(tok, ids, stop=()):
    dec = IncrementalDecoder(tok, stop)
    deltas = [dec.push(i) for i in ids]
    deltas.append(dec.finish())
    return dec, deltas


def test_deltas_add_up_to_the_decoded_text_with_whole_characters(tok):
    ids = tok.encode(TEXT, add_special_tokens=False)
    assert len(ids) < len(TEXT.encode())  # merged tokens, some holding parts of a character
    single = [tok.decode([i]) for i in ids]
    assert any("\ufffd" in s for s in single)  # decoding token by token would be wrong
    dec, deltas = stream(tok, ids)
    assert "".join(deltas) == tok.decode(ids) == TEXT == dec.text
    assert not any("\ufffd" in d for d in deltas)


def test_stop_string_cuts_the_text_and_is_never_sent(tok):
    ids = tok.encode(TEXT, add_special_tokens=False)
    dec, deltas = stream(tok, ids, stop=["東京", "never"])
    assert dec.stopped and "".join(deltas) == TEXT[: TEXT.index("東京")]
    # a stop string split over several tokens is held back until it is complete
    dec, deltas = stream(tok, ids, stop=["costs 5 €"])
    assert "".join(deltas) == "Crème brûlée " and not any("cost" in d for d in deltas)


def test_partial_stop_match_is_released_when_it_does_not_complete(tok):
    ids = tok.encode("a cat and a cart", add_special_tokens=False)
    dec, deltas = stream(tok, ids, stop=["cars"])
    assert not dec.stopped and "".join(deltas) == "a cat and a cart"


def test_special_tokens_are_not_text(tok):
    ids = [*tok.encode("hi", add_special_tokens=False), tok.eos_token_id]
    _, deltas = stream(tok, ids)
    assert "".join(deltas) == "hi"
