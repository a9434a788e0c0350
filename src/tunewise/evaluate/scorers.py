"""Scorers: each turns (output, case) into a score in [0, 1] with a reason.

Every scorer, built-in or not, is a factory registered by name with `@scorer("name")`; a spec from
the config (`{name, params}`) becomes a callable with `build_scorer`. Binary scorers (0 or 1 only)
are marked so the comparison can use McNemar's exact test on them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tunewise.errors import ConfigError

from .golden import Case


@dataclass
class Score:
    """A score in [0, 1], why, and optional detail (e.g. per-field matches)."""

    value: float
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class Scorer(Protocol):
    """Anything with a name, a `binary` flag and `__call__(output, case) -> Score`."""

    name: str
    binary: bool

    def __call__(self, output: str, case: Case) -> Score: ...


@dataclass
class FnScorer:
    """A scorer made from a plain function."""

    name: str
    fn: Callable[[str, Case], Score]
    binary: bool = True

    def __call__(self, output: str, case: Case) -> Score:
        return self.fn(output, case)


SCORERS: dict[str, Callable[..., Scorer]] = {}


def scorer(name: str) -> Callable[[Callable[..., Scorer]], Callable[..., Scorer]]:
    """Register a scorer factory under a name (used by built-ins and plugins alike)."""

    def deco(factory: Callable[..., Scorer]) -> Callable[..., Scorer]:
        SCORERS[name] = factory
        return factory

    return deco


def build_scorer(name: str, params: dict[str, Any] | None = None) -> Scorer:
    """Instantiate a registered scorer; ConfigError names the known ones when the name is unknown."""
    if name not in SCORERS:
        raise ConfigError(
            f"eval.scorers: unknown scorer '{name}'; known: {', '.join(sorted(SCORERS))}"
        )
    try:
        return SCORERS[name](**(params or {}))
    except TypeError as exc:
        raise ConfigError(f"eval.scorers: bad parameters for '{name}': {exc}") from exc


# --- helpers -----------------------------------------------------------------------------------


def parse_json(text: str) -> Any:
    """The JSON value in an answer (a fenced ```json block is unwrapped); raises ValueError."""
    s = text.strip()
    fence = re.match(r"^```(?:json)?\s*(.*?)\s*```$", s, re.S)
    if fence:
        s = fence.group(1)
    return json.loads(s)


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .!?")


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _binary(ok: bool, yes: str, no: str) -> Score:
    return Score(1.0 if ok else 0.0, yes if ok else no)


# --- built-in scorers --------------------------------------------------------------------------


@scorer("exact_match")
def exact_match() -> Scorer:
    """JSON answers compare as parsed values; text compares case- and whitespace-insensitively."""

    def fn(output: str, case: Case) -> Score:
        if not isinstance(case.expected, str):
            try:
                got = parse_json(output)
            except ValueError:
                return Score(0.0, "output is not JSON; expected a JSON answer")
            return _binary(
                got == case.expected, "JSON equal to expected", "JSON differs from expected"
            )
        return _binary(
            _norm(output) == _norm(case.expected), "matches expected", "differs from expected"
        )

    return FnScorer("exact_match", fn)


@scorer("json_valid")
def json_valid() -> Scorer:
    def fn(output: str, case: Case) -> Score:
        try:
            parse_json(output)
        except ValueError as exc:
            return Score(0.0, f"invalid JSON: {exc}")
        return Score(1.0, "valid JSON")

    return FnScorer("json_valid", fn)


@scorer("json_schema")
def json_schema(schema: dict[str, Any] | str) -> Scorer:
    """Valid against a JSON Schema (inline, or a path to a schema file)."""
    import jsonschema

    if isinstance(schema, str):
        with open(schema, encoding="utf-8") as fh:
            schema = json.load(fh)
    validator = jsonschema.Draft202012Validator(schema)  # type: ignore[arg-type]

    def fn(output: str, case: Case) -> Score:
        try:
            value = parse_json(output)
        except ValueError:
            return Score(0.0, "invalid JSON")
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "(root)"
            return Score(0.0, f"schema: {where}: {errors[0].message}")
        return Score(1.0, "valid against the schema")

    return FnScorer("json_schema", fn)


@scorer("json_fields")
def json_fields(fields: list[str] | None = None) -> Scorer:
    """Share of the expected JSON's fields (or the listed ones) that the output matches; per field in detail."""

    def fn(output: str, case: Case) -> Score:
        if not isinstance(case.expected, dict):
            return Score(
                1.0 if _norm(output) == _norm(case.expected_text()) else 0.0,
                "expected is not a JSON object",
            )
        names = fields or sorted(case.expected)
        try:
            got = parse_json(output)
        except ValueError:
            got = None
        got = got if isinstance(got, dict) else {}
        per = {f: got.get(f) == case.expected.get(f) for f in names}
        wrong = [f for f, ok in per.items() if not ok]
        reason = "all fields match" if not wrong else f"mismatched: {', '.join(wrong)}"
        return Score(sum(per.values()) / max(1, len(per)), reason, {"fields": per})

    return FnScorer("json_fields", fn, binary=False)


@scorer("regex")
def regex(pattern: str) -> Scorer:
    """The whole output matches a regular expression (format compliance)."""
    rx = re.compile(pattern, re.S)

    def fn(output: str, case: Case) -> Score:
        return _binary(
            bool(rx.fullmatch(output.strip())), "matches the format", f"does not match /{pattern}/"
        )

    return FnScorer("regex", fn)


@scorer("contains")
def contains() -> Scorer:
    """The expected text (or any of a list of alternatives) appears in the output as whole words, ignoring case."""

    def fn(output: str, case: Case) -> Score:
        options = case.expected if isinstance(case.expected, list) else [case.expected_text()]
        text = _norm(output)
        hit = next(
            (o for o in options if re.search(rf"(?<!\w){re.escape(_norm(str(o)))}(?!\w)", text)),
            None,
        )
        return _binary(hit is not None, f"contains '{hit}'", "expected text not found")

    return FnScorer("contains", fn)


@scorer("length_ratio")
def length_ratio() -> Scorer:
    """min(len(output), len(expected)) / max(...): 1 when lengths agree, toward 0 when far off."""

    def fn(output: str, case: Case) -> Score:
        a, b = len(output.strip()), len(case.expected_text().strip())
        value = 1.0 if a == b else min(a, b) / max(a, b)
        return Score(value, f"{a} chars vs {b} expected")

    return FnScorer("length_ratio", fn, binary=False)


def token_f1(output: str, reference: str) -> float:
    """SQuAD-style token F1 (bag of words overlap)."""
    from collections import Counter

    got, ref = _tokens(output), _tokens(reference)
    if not got or not ref:
        return float(got == ref)
    common = sum((Counter(got) & Counter(ref)).values())
    if common == 0:
        return 0.0
    p, r = common / len(got), common / len(ref)
    return 2 * p * r / (p + r)


def rouge_l_f(output: str, reference: str) -> float:
    """ROUGE-L F-measure: longest common subsequence of tokens."""
    a, b = _tokens(output), _tokens(reference)
    if not a or not b:
        return float(a == b)
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


@scorer("overlap")
def overlap() -> Scorer:
    def fn(output: str, case: Case) -> Score:
        value = token_f1(output, case.expected_text())
        return Score(value, f"token F1 {value:.2f}")

    return FnScorer("overlap", fn, binary=False)


@scorer("rouge_l")
def rouge_l() -> Scorer:
    def fn(output: str, case: Case) -> Score:
        value = rouge_l_f(output, case.expected_text())
        return Score(value, f"ROUGE-L F {value:.2f}")

    return FnScorer("rouge_l", fn, binary=False)


def _markers(text: str, markers: list[str]) -> list[str]:
    low = " ".join(text.lower().replace("’", "'").split())
    return [m for m in markers if m.lower() in low]


@scorer("refusal")
def refusal(markers: list[str] | None = None) -> Scorer:
    """1 when the output refuses exactly when the reference does (refusing a safe request scores 0)."""
    from tunewise.data.config import DEFAULT_REFUSAL_MARKERS

    marks = markers or DEFAULT_REFUSAL_MARKERS

    def fn(output: str, case: Case) -> Score:
        got, want = _markers(output, marks), _markers(case.expected_text(), marks)
        if bool(got) == bool(want):
            return Score(1.0, "refuses as the reference does" if want else "no refusal")
        return Score(0.0, f"unexpected refusal ('{got[0]}')" if got else "should have refused")

    return FnScorer("refusal", fn)


@scorer("hallucination")
def hallucination(markers: list[str] | None = None) -> Scorer:
    """1 unless the output carries a hedging/hallucination marker ('as of my last update' ...)."""
    from tunewise.data.config import DEFAULT_HALLUCINATION_MARKERS

    marks = markers or DEFAULT_HALLUCINATION_MARKERS

    def fn(output: str, case: Case) -> Score:
        found = _markers(output, marks)
        return _binary(
            not found, "no hallucination marker", f"marker: '{found[0]}'" if found else ""
        )

    return FnScorer("hallucination", fn)


@scorer("grounding")
def grounding(allow: list[str] | None = None) -> Scorer:
    """1 unless the output states facts (ids, amounts, dates, names) found neither in the prompt nor the reference."""
    from tunewise.data.grounding import ungrounded_entities

    def fn(output: str, case: Case) -> Score:
        context = case.prompt_text() + "\n" + case.expected_text()
        found = ungrounded_entities(output, context, allow or [])
        return _binary(not found, "every fact is grounded", f"ungrounded: {', '.join(found[:5])}")

    return FnScorer("grounding", fn)


JUDGE_RUBRIC = (
    "Rate how well the candidate answer does the task compared with the reference answer: "
    "5 = correct and complete, 3 = partly correct, 1 = wrong, harmful or off-topic."
)


@dataclass
class JudgeScorer:
    """LLM-as-judge: any variant (local, OpenAI-compatible, Bedrock) grades each answer on a 1-5 rubric.

    The judge's identity goes into each score's detail; `repeats` > 1 asks again (each repeat is its
    own cached request) and averages, useful with a judge temperature above 0.
    """

    model: str
    rubric: str = JUDGE_RUBRIC
    repeats: int = 1
    temperature: float = 0.0
    max_new_tokens: int = 96
    name: str = "judge"
    binary: bool = False
    disk_cache: bool = True
    """Cache replies in the generation cache (False for live traffic, which is judged once per
    response and would fill the disk with one-off entries)."""

    def __call__(self, output: str, case: Case) -> Score:
        return self.score_batch([output], [case])[0]

    def _prompt(self, output: str, case: Case, repeat: int) -> list[dict[str, Any]]:
        system = (
            f"You are a strict evaluator. {self.rubric}\n"
            'Reply with JSON only: {"score": <integer 1-5>, "reason": "<one sentence>"}'
        )
        if repeat:
            system += f"\n(independent judgement {repeat + 1} of {self.repeats})"
        # Live traffic (rollouts) has no reference answer: the judge sees the task and answer only.
        ref = "" if case.expected is None else f"Reference answer:\n{case.expected_text()}\n\n"
        user = f"Task:\n{case.prompt_text()}\n\n{ref}Candidate answer:\n{output}"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def score_batch(self, outputs: list[str], cases: list[Case]) -> list[Score]:
        from .backends import Settings, make_backend
        from .cache import GenerationCache, complete_cached
        from .variants import parse_variant

        variant = parse_variant(self.model)
        backend = make_backend(variant)
        settings = Settings(max_new_tokens=self.max_new_tokens, temperature=self.temperature)
        prompts = [
            self._prompt(o, c, r)
            for r in range(self.repeats)
            for o, c in zip(outputs, cases, strict=True)
        ]
        cache = GenerationCache() if self.disk_cache else None
        replies, _ = complete_cached(backend, prompts, settings, cache=cache)
        judge = {"model": variant.label(), "identity": backend.identity()}
        scores = []
        for i in range(len(cases)):
            got = [parse_judgement(replies[r * len(cases) + i].text) for r in range(self.repeats)]
            values = [v for v, _ in got if v is not None]
            if not values:
                scores.append(
                    Score(
                        0.0,
                        "judge reply had no 1-5 score",
                        {"judge": judge, "replies": [w for _, w in got]},
                    )
                )
                continue
            mean = sum(values) / len(values)
            scores.append(
                Score(
                    (mean - 1) / 4,
                    f"judge {mean:.1f}/5: {got[0][1]}",
                    {"judge": judge, "scores": values},
                )
            )
        return scores


def parse_judgement(reply: str) -> tuple[float | None, str]:
    """(score 1-5 or None, reason) from a judge reply: JSON first, else the first digit 1-5."""
    try:
        data = parse_json(reply)
        if (
            isinstance(data, dict)
            and isinstance(data.get("score"), int | float)
            and 1 <= data["score"] <= 5
        ):
            return float(data["score"]), str(data.get("reason", ""))
    except ValueError:
        pass
    m = re.search(r"\b([1-5])\b", reply)
    return (float(m.group(1)), reply.strip()[:200]) if m else (None, reply.strip()[:200])


@scorer("judge")
def judge(
    model: str,
    rubric: str = JUDGE_RUBRIC,
    repeats: int = 1,
    temperature: float = 0.0,
    max_new_tokens: int = 96,
) -> Scorer:
    """The judge scorer; `model` is a variant spec such as `openai:gpt-4o,base_url=...`."""
    return JudgeScorer(model, rubric, max(1, repeats), temperature, max_new_tokens)


@scorer("check")
def check_scorer() -> Scorer:
    """Per-case expectations in `expected`: words, patterns, refusals (see checks.py); binary."""
    from .checks import check

    def fn(output: str, case: Case) -> Score:
        ok, why = check(output, case.expected)
        return Score(1.0 if ok else 0.0, why)

    return FnScorer("check", fn)
