"""The commands `tunewise run` prints at the end: they ship the model the run recommends, or nothing."""

from __future__ import annotations

from tunewise.config import ProjectConfig
from tunewise.pipeline.stages import StageRecord
from tunewise.pipeline.summary import next_steps

CFG = ProjectConfig(project="router")


def _records(
    *, cheapest: dict | None = None, decision: str | None = None, instead: dict | None = None
) -> list[StageRecord]:
    out = [StageRecord("cheapest", "k", "ran", outputs={"registered": cheapest})]
    if decision is None:  # stopped before training
        return [*out, *(StageRecord(n, "", "skipped", note="enough") for n in ("train", "compare"))]
    register = {"model": "router-ft", "instead": instead}
    return [
        *out,
        StageRecord("compare", "k", "ran", outputs={"decision": decision}),
        StageRecord("register", "k", "ran", outputs=register),
    ]


def _model(lines: list[str]) -> str:
    assert len(lines) == 2 and "tunewise serve -c cfg.yaml" in lines[0]
    promoted = lines[0].split("tunewise registry promote ")[1].split()[0]
    assert lines[1].split("tunewise rollout start ")[1].split()[0] == promoted
    assert lines[1].endswith("--feature router -c cfg.yaml")
    return promoted


def test_the_accepted_fine_tune_is_shipped() -> None:
    assert _model(next_steps(CFG, _records(decision="accept"), "cfg.yaml")) == "router-ft"


def test_the_classifier_that_reached_the_target_is_shipped() -> None:
    clf = {"model": "router-clf", "gate": "accept"}
    assert _model(next_steps(CFG, _records(cheapest=clf), "cfg.yaml")) == "router-clf"


def test_the_classifier_a_blocked_fine_tune_did_not_beat_is_shipped() -> None:
    clf = {"model": "router-clf", "gate": "accept"}
    records = _records(decision="block", instead=clf)
    assert _model(next_steps(CFG, records, "cfg.yaml")) == "router-clf"


def test_nothing_to_ship_prints_nothing() -> None:
    assert next_steps(CFG, _records(decision="block"), "cfg.yaml") == []
    # A registered classifier whose own gate blocked it, and a --train-anyway run that kept going.
    blocked = {"model": "router-clf", "gate": "block"}
    assert next_steps(CFG, _records(cheapest=blocked), "cfg.yaml") == []
    clf = {"model": "router-clf", "gate": "accept"}
    assert next_steps(CFG, _records(cheapest=clf, decision="block"), "cfg.yaml") == []
