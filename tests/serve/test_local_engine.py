"""The local engine: batched and mixed-adapter greedy answers equal answers alone; limits and errors."""

from __future__ import annotations

import asyncio
import time

import pytest
from local_helpers import (
    ADAPTERS,
    alone,
    answer,
    build_adapter,
    conversation,
    lively_copy,
    run,
    together,
)

from tunewise.errors import ModelError
from tunewise.serve.engine import Engine, EngineSettings
from tunewise.serve.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    NotFound,
    Overloaded,
    UpstreamTimeout,
)

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def model(tiny_model, tmp_path_factory):
    return lively_copy(tiny_model, tmp_path_factory.mktemp("lively") / "model")


@pytest.fixture(scope="module")
def adapters(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return {name: build_adapter(model, root / name, seed) for name, seed in (("a1", 1), ("a2", 2))}


def make_engine(model, adapters, **settings):
    engine = Engine(str(model), adapters, EngineSettings(**{"batch_window_ms": 20, **settings}))
    engine.load()
    return engine


@pytest.fixture(scope="module")
def engine(model, adapters):
    engine = make_engine(model, adapters)
    yield engine
    run(engine.close())


def test_auto_device_is_the_cpu_here(engine):
    import torch

    assert engine.device == ("cuda" if torch.cuda.is_available() else "cpu")


def test_batched_greedy_answers_equal_answers_alone(engine):
    one_by_one = run(alone(engine, 8))
    before = dict(engine.stats)
    batched = run(together(engine, 8))
    assert [(r.content, r.usage) for r in batched] == [(r.content, r.usage) for r in one_by_one]
    assert engine.stats["max_rows"] == 8 and engine.stats["max_adapters"] == 3
    assert engine.stats["steps"] - before["steps"] < 10 * 8  # fewer passes than one per token
    assert all(r.finish_reason == "length" and r.usage.completion_tokens == 10 for r in batched)


def test_answers_match_transformers_generate(engine, model, adapters):
    """The hand-written decode loop gives the tokens `generate` gives, base and adapter."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tok = engine.tokenizer
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model), adapters["a1"])
    for i, adapter in enumerate([None, "a1", None, "a1"]):
        ids = engine.render(conversation(i))
        with torch.inference_mode():
            if adapter is None:
                with peft.disable_adapter():
                    out = peft.generate(torch.tensor([ids]), max_new_tokens=10, do_sample=False)
            else:
                out = peft.generate(torch.tensor([ids]), max_new_tokens=10, do_sample=False)
        want = tok.decode(out[0, len(ids) :], skip_special_tokens=True)
        assert run(answer(engine, i, adapter)).content == want


def test_mixed_adapter_batches_equal_one_adapter_at_a_time(model, adapters, engine):
    mixed = run(together(engine, 9))
    single = make_engine(model, adapters, mix_adapters=False)
    try:
        one_at_a_time = run(together(single, 9))
        assert single.stats["max_adapters"] == 1 and single.stats["max_rows"] == 3
    finally:
        run(single.close())
    assert [r.content for r in mixed] == [r.content for r in one_at_a_time]


def test_adapters_change_the_answers(engine):
    answers = {a: run(answer(engine, 1, a, max_tokens=12)).content for a in ADAPTERS}
    assert len(set(answers.values())) == 3, answers


def test_requests_join_a_running_batch(engine):
    """Continuous batching: requests sent while a long one runs join it and finish first.

    The first joiner's prompt is longer than the running row's cache (the running rows are padded
    to it) and it leaves first (the padding is trimmed again); answers stay those given alone.
    """
    long_prompt = [{"role": "user", "content": "Read this twice. " * 40 + "Now answer."}]

    async def ask(messages, adapter, max_tokens):
        gen = engine.submit(engine.render(messages), adapter=adapter, max_tokens=max_tokens)
        return await gen.result()

    async def scenario():
        first = engine.submit(engine.render(conversation(5)), adapter="a1", max_tokens=40)
        chunks = aiter(first)
        head = await anext(chunks)  # the first request is running now
        joiners = [ask(long_prompt, "a2", 4)] + [
            ask(conversation(i), ADAPTERS[i % 3], 20) for i in range(3)
        ]
        answers = await asyncio.gather(*joiners)
        rest = [c async for c in chunks]
        assert rest[-1].usage.completion_tokens == 40
        return [head.content + "".join(c.content for c in rest), *(r.content for r in answers)]

    joined = run(scenario())
    assert engine.stats["max_rows"] >= 5
    each_alone = [
        run(ask(conversation(5), "a1", 40)),
        run(ask(long_prompt, "a2", 4)),
        *(run(ask(conversation(i), ADAPTERS[i % 3], 20)) for i in range(3)),
    ]
    assert joined == [r.content for r in each_alone]


def test_stream_deltas_add_up_to_the_answer(engine):
    async def scenario():
        gen = engine.submit(engine.render(conversation(2)), adapter="a2", max_tokens=16)
        return [c async for c in gen]

    chunks = run(scenario())
    whole = run(answer(engine, 2, "a2", max_tokens=16))
    assert len(chunks) > 2 and "".join(c.content for c in chunks) == whole.content
    assert all(c.finish_reason is None for c in chunks[:-1])
    assert chunks[-1].finish_reason == "length" and chunks[-1].usage == whole.usage


def test_stop_strings_end_the_answer(engine):
    full = run(answer(engine, 1, "a1", max_tokens=12)).content
    stop = full[5:8]
    cut = run(answer(engine, 1, "a1", max_tokens=12, stop=[stop]))
    assert cut.finish_reason == "stop" and cut.content == full[: full.index(stop)]


def test_end_of_sequence_token_ends_the_answer_with_stop(engine):
    eos = engine._loaded.eos_ids
    engine._loaded.eos_ids = frozenset(range(len(engine.tokenizer)))  # whatever comes first ends it
    try:
        done = run(answer(engine, 0, "a1", max_tokens=10))
    finally:
        engine._loaded.eos_ids = eos
    assert (done.finish_reason, done.content, done.usage.completion_tokens) == ("stop", "", 1)


def test_seeded_sampling_is_reproducible_in_a_batch(engine):
    kw = {"temperature": 1.0, "top_p": 0.9, "seed": 7, "max_tokens": 12}
    one = run(answer(engine, 3, "a1", **kw)).content

    async def crowd():
        others = [answer(engine, i, "a2", max_tokens=12) for i in range(4)]
        return await asyncio.gather(answer(engine, 3, "a1", **kw), *others)

    assert run(crowd())[0].content == one
    assert run(answer(engine, 3, "a1", **{**kw, "seed": 8})).content != one


def test_bad_limits_are_refused_naming_the_field(engine):
    ids = engine.render(conversation(0))
    for bad in (0, 2000):
        with pytest.raises(InvalidRequest, match="max_tokens") as err:
            run(answer(engine, 0, None, max_tokens=bad))
        assert err.value.param == "max_tokens" and err.value.status == 400
    with pytest.raises(ContextLengthExceeded) as err:
        run(_submit(engine, [ids[0]] * engine.context))
    assert err.value.param == "messages" and "maximum context length" in err.value.message
    with pytest.raises(ContextLengthExceeded) as err:
        run(_submit(engine, [ids[0]] * (engine.context - 100), max_tokens=200))
    assert err.value.param == "max_tokens" and "at most 100" in err.value.message
    with pytest.raises(NotFound, match="a3") as err:
        run(answer(engine, 0, "a3"))
    assert err.value.param == "model"
    with pytest.raises(InvalidRequest) as err:
        run(answer(engine, 0, None, temperature=5))
    assert err.value.param == "temperature"


async def _submit(engine, ids, **kw):
    return await engine.submit(ids, **kw).result()


def test_full_queue_is_overloaded_with_retry_after(model, adapters):
    engine = make_engine(model, adapters, max_batch=1, max_queue=2)

    async def scenario():
        running = engine.submit(engine.render(conversation(0)), max_tokens=200)
        it = aiter(running)
        await anext(it)
        waiting = [engine.submit(engine.render(conversation(i)), max_tokens=5) for i in (1, 2)]
        with pytest.raises(Overloaded) as err:
            engine.submit(engine.render(conversation(3)), max_tokens=5)
        await it.aclose()  # the client goes away: its row is freed
        done = [await g.result() for g in waiting]
        return err.value, done

    try:
        err, done = run(scenario())
    finally:
        run(engine.close())
    assert err.status == 429 and int(err.headers["Retry-After"]) >= 1
    assert [r.usage.completion_tokens for r in done] == [5, 5]


def test_deadline_passes_with_a_timeout_and_frees_the_row(engine):
    with pytest.raises(UpstreamTimeout, match="deadline"):
        run(answer(engine, 0, "a1", max_tokens=1000, deadline=time.monotonic() + 0.3))
    for _ in range(100):
        if engine.load_state() == {"queued": 0, "running": 0}:
            break
        time.sleep(0.05)
    assert engine.load_state() == {"queued": 0, "running": 0}
    assert run(answer(engine, 0, "a1")).usage.completion_tokens == 10


def test_adapter_trained_on_another_base_is_refused_at_load(model, adapters, tmp_path):
    wrong = build_adapter(model, tmp_path / "wrong", 3, base_hash="0" * 64)
    engine = Engine(str(model), {"a1": adapters["a1"], "wrong": wrong})
    with pytest.raises(ModelError, match="different or modified"):
        engine.load()
    assert engine.adapters == ["a1"]  # nothing was served: the worker never started
    with pytest.raises(Exception, match="not running"):
        engine.submit([1, 2, 3])


def test_a_finished_row_is_free_before_its_answer_goes_out(model, adapters, monkeypatch):
    """A client that sends its next request as soon as it has its answer must not get a 429 from a
    one-row engine (seen on a loaded CI machine: the row was freed after the last chunk was sent)."""
    from tunewise.serve import scheduler

    engine = make_engine(model, adapters, max_batch=1, max_queue=0)
    running_at_last_chunk: list[int] = []
    send = scheduler._send

    def spy(job, item):  # type: ignore[no-untyped-def]
        if getattr(item, "finish_reason", None):
            running_at_last_chunk.append(engine.load_state()["running"])
        send(job, item)

    monkeypatch.setattr(scheduler, "_send", spy)

    async def scenario():
        return [await answer(engine, i, "a1", max_tokens=3) for i in range(3)]

    try:
        done = run(scenario())
    finally:
        run(engine.close())
    assert [r.usage.completion_tokens for r in done] == [3, 3, 3]
    assert running_at_last_chunk == [0, 0, 0]
