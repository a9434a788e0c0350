"""The OpenAI-compatible backend against a real local HTTP server speaking chat completions.

The server generates with the tiny model through `tunewise.infer`, so the endpoint's answers must
equal the local backend's: same model, same greedy settings, different transport.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from eval_helpers import golden_rows, write_jsonl

from tunewise.evaluate.api import scorers_from_config
from tunewise.evaluate.backends import Settings
from tunewise.evaluate.config import EvalConfig
from tunewise.evaluate.golden import load_golden
from tunewise.evaluate.runner import run_eval
from tunewise.evaluate.variants import Variant, parse_variant

pytest.importorskip("openai")


def chat_server(model_folder: Path) -> ThreadingHTTPServer:
    """A minimal OpenAI-compatible `/v1/chat/completions` over a local model (greedy only)."""
    from tunewise.infer import generate

    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/chat/completions":
                self.send_error(404)
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if body.get("temperature", 1) != 0:
                self.send_error(400, "this server only does greedy decoding")
                return
            with lock:  # one generation at a time on the shared model
                self.server.requests.append(body)  # type: ignore[attr-defined]
                gen = generate(
                    [body["messages"]],
                    str(model_folder),
                    max_new_tokens=body.get("max_tokens") or 16,
                )[0]
            payload = {
                "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": gen.text}}],
                "usage": {"prompt_tokens": gen.tokens_in, "completion_tokens": gen.tokens_out, "total_tokens": gen.tokens_in + gen.tokens_out},
            }  # fmt: skip
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.requests = []  # type: ignore[attr-defined]
    return server


@pytest.fixture
def server(tiny_model: Path) -> Iterator[ThreadingHTTPServer]:
    server = chat_server(tiny_model)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def test_endpoint_answers_match_local_generation(
    tiny_model: Path, endpoint: str, tmp_path: Path
) -> None:
    golden = load_golden(write_jsonl(tmp_path / "golden.jsonl", golden_rows(6)))
    scorers = scorers_from_config(EvalConfig())
    settings = Settings(max_new_tokens=6, concurrency=3)
    remote = parse_variant(f"openai:tiny,base_url={endpoint},price_input=1.0,price_output=2.0")
    got = run_eval(golden, remote, scorers, settings, progress=False)
    local = run_eval(golden, Variant(model=str(tiny_model)), scorers, settings, progress=False)
    assert [c.error for c in got.cases] == [None] * 6
    assert [c.output for c in got.cases] == [c.output for c in local.cases]
    assert [c.tokens_in for c in got.cases] == [c.tokens_in for c in local.cases]
    case = got.cases[0]
    assert case.cost_usd == pytest.approx((case.tokens_in * 1.0 + case.tokens_out * 2.0) / 1e6)
    assert got.identity == {"kind": "openai", "model": "tiny", "base_url": endpoint}
    again = run_eval(golden, remote, scorers, settings, progress=False)
    assert again.cache_hits == 6


def test_endpoint_failures_are_recorded_per_case(tmp_path: Path) -> None:
    golden = load_golden(write_jsonl(tmp_path / "golden.jsonl", golden_rows(2)))
    dead = Variant(kind="openai", model="x", base_url="http://127.0.0.1:9/v1")
    run = run_eval(
        golden, dead, scorers_from_config(EvalConfig()), Settings(max_new_tokens=4), progress=False
    )
    assert all(c.error and c.output == "" for c in run.cases)
    assert all(c.scores["exact_match"] == 0.0 for c in run.cases)


def test_judge_scores_through_any_backend(
    server: ThreadingHTTPServer, endpoint: str, tmp_path: Path
) -> None:
    """LLM-as-judge over the endpoint: one request per case and repeat, the judge recorded, cached."""
    from tunewise.evaluate.scorers import build_scorer

    golden = load_golden(write_jsonl(tmp_path / "golden.jsonl", golden_rows(3)))
    judge = build_scorer(
        "judge",
        {"model": f"openai:judge-model,base_url={endpoint}", "repeats": 2, "max_new_tokens": 8},
    )
    outputs = ['{"intent": "card_arrival"}', "no idea", '{"intent": "exchange_rate"}']
    scores = judge.score_batch(outputs, golden.cases)  # type: ignore[attr-defined]
    assert len(server.requests) == 6  # type: ignore[attr-defined]
    assert all(r["model"] == "judge-model" and r["temperature"] == 0 for r in server.requests)  # type: ignore[attr-defined]
    prompts = [(r["messages"][0]["content"], r["messages"][1]["content"]) for r in server.requests]  # type: ignore[attr-defined]
    assert sum('Candidate answer:\n{"intent": "card_arrival"}' in user for _, user in prompts) == 2
    assert sum("independent judgement 2 of 2" in system for system, _ in prompts) == 3
    for s in scores:
        assert 0.0 <= s.value <= 1.0
        assert s.detail["judge"]["model"] == "openai:judge-model"
    judge.score_batch(outputs, golden.cases)  # type: ignore[attr-defined]
    assert len(server.requests) == 6  # type: ignore[attr-defined]  # the second pass is all cache hits


def test_bedrock_messages_become_converse_turns() -> None:
    from tunewise.evaluate.backends import to_converse

    system, turns = to_converse([
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "user", "content": [{"type": "text", "text": "again"}]},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye"},
    ])  # fmt: skip
    assert system == [{"text": "be brief"}]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[0]["content"] == [{"text": "hi"}, {"text": "again"}]
