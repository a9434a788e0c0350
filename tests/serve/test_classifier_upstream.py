"""A registered embedding classifier served behind a feature: the cheapest variant can be shipped.

Real pieces throughout: a classifier trained on the example's rows (MiniLM), the registry in
SQLite, `tunewise serve`'s app on a loopback port, and the unmodified `openai` SDK.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serve_helpers import sdk

from tunewise.evaluate.classifier import load_classifier
from tunewise.serve.testing import ServerThread

TICKETS = [
    "I was charged twice for order ORD-12345, please fix the invoice.",
    "My parcel never arrived and tracking has not moved in a week.",
    "How do I reset my password? The link in the email expired.",
    "I want my money back for the broken blender, order ORD-54321.",
    "Can you change the delivery address on my order?",
    "The app crashes every time I open my account settings.",
]


def _ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def served(support_classifier: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The classifier registered as `router-v1` and promoted (forced: no gate here) to
    `support@production`; a gateway with no configured upstreams in front of that store."""
    from tunewise.registry import Registry
    from tunewise.serve.app import create_app
    from tunewise.serve.config import ServeConfig

    url = f"sqlite:///{tmp_path / 'tunewise.db'}"
    folder = shutil.copytree(support_classifier, tmp_path / "router")
    with Registry(url) as reg:
        reg.register_model(folder, name="router-v1")
        reg.promote("router-v1", feature="support", force=True, reason="test: ship the classifier")
    with ServerThread(create_app(ServeConfig(), db_url=url)).start() as gw:
        yield gw, folder


def test_a_feature_served_by_the_classifier_answers_like_the_classifier(served) -> None:  # type: ignore[no-untyped-def]
    gw, folder = served
    clf = load_classifier(folder)
    client = sdk(gw)
    raw = client.chat.completions.with_raw_response.create(
        model="support", messages=_ask(TICKETS[0]), user="u1"
    )
    reply = raw.parse()
    assert raw.headers["x-tunewise-model"] == "router-v1"
    assert raw.headers["x-tunewise-feature"] == "support"
    answer = reply.choices[0].message.content
    assert answer == clf.predict(_ask(TICKETS[0]))
    assert (
        json.loads(answer)["intent"] == "billing" and json.loads(answer)["order_id"] == "ORD-12345"
    )
    assert reply.choices[0].finish_reason == "stop" and reply.usage.prompt_tokens > 0

    # Streaming gives the same answer; the registered name works as a model too.
    stream = client.chat.completions.create(
        model="router-v1", messages=_ask(TICKETS[3]), stream=True
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert streamed == clf.predict(_ask(TICKETS[3]))


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(served) -> None:  # type: ignore[no-untyped-def]
    gw, folder = served
    expected = load_classifier(folder).predict_batch([_ask(t) for t in TICKETS])
    client = sdk(gw)

    def call(text: str) -> str:
        r = client.chat.completions.create(model="support", messages=_ask(text))
        return r.choices[0].message.content or ""

    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(call, TICKETS * 3))
    assert got == expected * 3


def test_a_classifier_folder_changed_after_registration_is_not_served(served) -> None:  # type: ignore[no-untyped-def]
    import openai

    gw, folder = served
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["heads"][0]["labels"] = list(reversed(manifest["heads"][0]["labels"]))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(openai.APIStatusError) as err:
        sdk(gw).chat.completions.create(model="support", messages=_ask(TICKETS[1]))
    assert err.value.status_code == 503
    body = err.value.response.json()["error"]
    assert body["code"] == "model_unavailable" and "changed since registration" in body["message"]
