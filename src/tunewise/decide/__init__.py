"""Decide: should this use case be prompting, a small classifier, RAG, routing + tools, or fine-tuning?

A transparent decision matrix over a handful of signals. Each approach collects points from
the signals that favour it, with the reason written next to every point, so a reviewer can
disagree with a specific line instead of with a verdict. Evidence (a prompt-only variant that
already passes the gate on the golden set) overrides the matrix: see `tunewise run`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Approach = Literal["prompt", "classifier", "rag", "routing", "fine_tune"]
APPROACHES: tuple[Approach, ...] = ("prompt", "classifier", "rag", "routing", "fine_tune")
LABELS = {
    "prompt": "prompt engineering",
    "classifier": "a small classifier (embeddings + logistic regression)",
    "rag": "retrieval-augmented generation (RAG)",
    "routing": "routing + tools",
    "fine_tune": "fine-tuning",
}


class DecideConfig(BaseModel):
    """Signals about the use case (the `decide:` section of tunewise.yaml)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    cites_live_documents: bool = False
    """Answers must quote or cite documents that live outside the model (policies, KB articles)."""
    facts_change: Literal["never", "yearly", "monthly", "weekly", "daily"] = "yearly"
    """How often the facts or policy behind the answers change."""
    behaviour_stable: bool = True
    """The wanted behaviour (task, format, tone) is stable and can be shown by examples."""
    labelled_examples: int = Field(0, ge=0)
    """Labelled input/output examples available (after cleaning)."""
    output_schema: bool = False
    """Answers must follow a strict output schema (JSON fields, labels)."""
    distinct_tasks: int = Field(1, ge=1)
    """Number of clearly different tasks the one endpoint must serve."""
    needs_actions: bool = False
    """Answers require calling systems (look up an order, issue a refund) rather than text alone."""
    latency_budget_ms: int | None = Field(None, gt=0)
    """p95 latency budget per request, if any."""
    requests_per_day: int = Field(0, ge=0)
    """Expected traffic; high volume makes shorter prompts and smaller models pay off."""
    prompt_tokens_today: int = Field(0, ge=0)
    """Tokens of instructions and few-shot examples sent with every request today."""
    label_count: int = Field(0, ge=0)
    """Distinct answers when every answer is one label from a fixed set (intent routing); 0 for free text. `tunewise run` measures it."""


def _label_signals(s: DecideConfig, add: Callable[[Approach, int, str], None]) -> None:
    """Answers that are labels: the seeds' cheapest path is a small classifier, tried first."""
    n = s.label_count
    if n < 2:
        return
    add(
        "classifier",
        3,
        f"every answer is one of {n} labels: a classifier is the cheapest path to try first",
    )
    if 5 <= n <= 20:
        add(
            "classifier",
            2,
            f"intent routing with {n} labels: a mini model first, then a fine-tune on a mini model if it falls short",
        )
        add(
            "fine_tune",
            -1,
            f"fine-tuning an LLM for {n} labels is the expensive way to route intents",
        )
    if s.labelled_examples >= 20 * n:
        add(
            "classifier",
            1,
            f"{s.labelled_examples // n} examples per label: plenty for a classifier",
        )
    if s.output_schema:
        add(
            "classifier",
            1,
            "a classifier's answer is always a valid label: the schema holds by construction",
        )
    if s.requests_per_day >= 10_000:
        add(
            "classifier",
            2,
            f"{s.requests_per_day:,} requests/day: a classifier answers in milliseconds on a CPU",
        )


@dataclass
class Decision:
    """The matrix's recommendation, the points behind it, and warnings."""

    recommendation: Approach
    scores: dict[str, int]
    reasons: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "recommendation": self.recommendation,
            "label": LABELS[self.recommendation],
            "scores": self.scores,
            "reasons": self.reasons,
            "warnings": self.warnings,
        }


_FAST_CHANGE = {"weekly", "daily"}


def decide(s: DecideConfig) -> Decision:
    """Score each approach from the signals; ties go to the cheaper approach (the order of APPROACHES)."""
    points: dict[str, list[tuple[int, str]]] = {a: [] for a in APPROACHES}

    def add(approach: Approach, weight: int, why: str) -> None:
        points[approach].append((weight, why))

    add("prompt", 1, "cheapest to try and to change: always the baseline to beat")
    if s.cites_live_documents:
        add("rag", 3, "answers must cite live documents: retrieve them at request time")
        add("fine_tune", -2, "a fine-tune cannot cite documents it never saw or that changed since")
    if s.facts_change in _FAST_CHANGE:
        add(
            "rag",
            3,
            f"facts change {s.facts_change}: keep them in a retrievable store, not in weights",
        )
        add(
            "fine_tune",
            -3,
            f"facts that change {s.facts_change} go stale in weights; flag them as RAG material",
        )
    elif s.facts_change == "monthly":
        add("rag", 1, "facts change monthly: retrieval keeps them current without retraining")
    if s.needs_actions:
        add("routing", 3, "answers need actions on live systems: route to tools")
    if s.distinct_tasks >= 3:
        add(
            "routing",
            2,
            f"{s.distinct_tasks} distinct tasks: route each to a focused prompt or model",
        )
    if s.behaviour_stable:
        add("fine_tune", 1, "behaviour is stable, so examples can teach it once")
    else:
        add(
            "prompt",
            2,
            "behaviour still changes: prompts are edited in minutes, fine-tunes in hours",
        )
        add("fine_tune", -2, "unstable behaviour means retraining on every change")
    if s.labelled_examples >= 500:
        add(
            "fine_tune",
            3,
            f"{s.labelled_examples} labelled examples: plenty to fine-tune and hold out a golden set",
        )
    elif s.labelled_examples >= 100:
        add("fine_tune", 2, f"{s.labelled_examples} labelled examples: enough for a LoRA fine-tune")
    elif s.labelled_examples >= 10:
        add(
            "prompt",
            1,
            f"only {s.labelled_examples} labelled examples: use them as few-shot examples first",
        )
    else:
        add(
            "fine_tune",
            -3,
            "fewer than 10 labelled examples: nothing to train on (OpenAI's minimum is 10)",
        )
    if s.output_schema:
        add(
            "fine_tune",
            2,
            "a strict output schema is learned reliably by fine-tuning (small models especially)",
        )
        add("prompt", 1, "structured-output modes can enforce a schema without training")
    if s.latency_budget_ms is not None and s.latency_budget_ms <= 500:
        add(
            "fine_tune",
            2,
            f"p95 budget {s.latency_budget_ms} ms: a small fine-tuned model with a short prompt fits",
        )
        add("rag", -1, "retrieval adds a round trip to a tight latency budget")
    if s.requests_per_day >= 10_000 and s.prompt_tokens_today >= 500:
        add(
            "fine_tune",
            2,
            f"{s.requests_per_day:,} requests/day x {s.prompt_tokens_today} prompt tokens: "
            "a fine-tune that drops the long prompt pays back (see `tunewise data cost`)",
        )

    _label_signals(s, add)
    scores: dict[str, int] = {a: sum(w for w, _ in points[a]) for a in APPROACHES}
    best = max(APPROACHES, key=lambda a: (scores[a], -APPROACHES.index(a)))
    reasons: dict[str, list[str]] = {
        a: [f"{w:+d} {why}" for w, why in points[a]] for a in APPROACHES
    }
    warnings = []
    if s.facts_change in _FAST_CHANGE and best == "fine_tune":
        warnings.append(
            "facts change often: keep them out of the training data and serve them by retrieval"
        )
    if 5 <= s.label_count <= 20 and best == "fine_tune":
        warnings.append(
            f"{s.label_count} labels: fine-tune a small model, not a big one, and only if the classifier falls short"
        )
    if s.labelled_examples < 50 and best == "fine_tune":
        warnings.append(
            "under 50 examples: expect a noisy result; compare against few-shot before shipping"
        )
    return Decision(recommendation=best, scores=scores, reasons=reasons, warnings=warnings)
