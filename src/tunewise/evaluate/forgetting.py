"""The forgetting check: the general-capability suite run zero-shot on base and candidate (compared
with paired statistics in compare.forgetting_summary).

The bundled suite (`general_suite.jsonl`, 125 cases written for tunewise) covers arithmetic, short
facts, instructions, formatting, refusals of harmful requests and over-refusal of safe ones; every
case says in `expected` how its answer is checked (the `check` scorer). Its answers get their own
token budget (`eval.forgetting_max_new_tokens`), so a feature's short `eval.max_new_tokens` does
not cut them off.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources

from .backends import Settings
from .golden import GoldenSet, load_golden
from .runner import RunResult, run_eval
from .scorers import build_scorer
from .variants import PromptStrategy, Variant


def forgetting_suite(spec: str | None) -> GoldenSet | None:
    """The general-capability suite: 'builtin' (shipped with tunewise), a JSONL path, or None."""
    if not spec:
        return None
    if spec == "builtin":
        with resources.as_file(
            resources.files("tunewise.evaluate").joinpath("general_suite.jsonl")
        ) as path:
            return load_golden(path)
    return load_golden(spec)


def applies(variant: Variant) -> bool:
    """A classifier answers only its labels: general capability is not something it has to keep."""
    return variant.kind != "classifier"


def run_suite(
    suite: GoldenSet,
    variants: tuple[Variant, Variant],
    settings: Settings,
    *,
    max_new_tokens: int = 48,
    cache: bool = True,
    progress: bool = True,
) -> tuple[RunResult, RunResult] | None:
    """Both sides on the suite, zero-shot, scored by `check`; None when it does not apply."""
    if not all(applies(v) for v in variants):
        return None
    suite_settings = replace(settings, max_new_tokens=max_new_tokens)
    check = [build_scorer("check")]
    base, cand = (
        run_eval(suite, v.model_copy(update={"prompt": PromptStrategy()}), check, suite_settings,
                 cache=cache, progress=progress)
        for v in variants
    )  # fmt: skip
    return base, cand
