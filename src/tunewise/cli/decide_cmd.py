"""`tunewise decide`: prompting, RAG, routing or fine-tuning, from the decision matrix."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from tunewise.cli import options as o
from tunewise.cli._console import console
from tunewise.decide import APPROACHES, LABELS, DecideConfig, decide


def _questionnaire() -> DecideConfig:
    ask, confirm = typer.prompt, typer.confirm
    return DecideConfig(
        cites_live_documents=confirm("Must answers quote or cite live documents?", default=False),
        facts_change=ask(
            "How often do the facts or policy change (never/yearly/monthly/weekly/daily)?",
            default="yearly",
        ),
        behaviour_stable=confirm(
            "Is the wanted behaviour (task, format, tone) stable?", default=True
        ),
        labelled_examples=ask("How many labelled examples do you have?", default=0, type=int),
        output_schema=confirm("Must answers follow a strict output schema?", default=False),
        distinct_tasks=ask(
            "How many clearly different tasks must the endpoint serve?", default=1, type=int
        ),
        needs_actions=confirm("Do answers need actions on live systems (tools)?", default=False),
        latency_budget_ms=ask("p95 latency budget in ms (0 for none)?", default=0, type=int)
        or None,
        requests_per_day=ask("Requests per day?", default=0, type=int),
        prompt_tokens_today=ask(
            "Prompt tokens (instructions + examples) per request today?", default=0, type=int
        ),
        label_count=ask(
            "If every answer is one label from a fixed set, how many labels (0 for free text)?",
            default=0,
            type=int,
        ),
    )


def register(app: typer.Typer) -> None:
    @app.command("decide")
    def decide_cmd(
        ctx: typer.Context,
        config: Path | None = typer.Option(
            None,
            "--config",
            "-c",
            help="Read the signals from this tunewise.yaml's `decide:` section.",
        ),
        interactive: bool = typer.Option(
            False, "--interactive", "-i", help="Answer a short questionnaire."
        ),
        sets: o.Sets = None,
        cites_live_documents: o.CitesLiveDocuments = None,
        facts_change: o.FactsChange = None,
        behaviour_stable: o.BehaviourStable = None,
        labelled_examples: o.LabelledExamples = None,
        output_schema: o.OutputSchema = None,
        distinct_tasks: o.DistinctTasks = None,
        needs_actions: o.NeedsActions = None,
        latency_budget_ms: o.LatencyBudgetMs = None,
        requests_per_day: o.RequestsPerDay = None,
        prompt_tokens_today: o.PromptTokensToday = None,
        label_count: o.LabelCount = None,
        as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
    ) -> None:
        """Recommend prompting, a small classifier, RAG, routing + tools or fine-tuning, with the reasons.

        Signals come from --config, the questionnaire (--interactive) or flags (flags win).
        `tunewise run` goes further: it evaluates prompt-only variants on the golden set and
        skips training when one already passes the gate.
        """
        from tunewise.config import load_config

        answers = {} if config or not interactive else {"decide": _questionnaire().model_dump()}
        signals = load_config(config, {**answers, **o.overrides(ctx)}).decide
        decision = decide(signals)
        if as_json:
            typer.echo(json.dumps(decision.to_json(), indent=2))
            return
        table = Table(title="Decision matrix", show_lines=True)
        table.add_column("approach")
        table.add_column("score", justify="right")
        table.add_column("why")
        for a in APPROACHES:
            mark = " ←" if a == decision.recommendation else ""
            table.add_row(
                LABELS[a] + mark, str(decision.scores[a]), "\n".join(decision.reasons[a]) or "-"
            )
        console.print(table)
        console.print(f"[bold]Recommendation:[/] {LABELS[decision.recommendation]}", markup=True)
        for w in decision.warnings:
            console.print(f"[yellow]warning:[/] {w}", markup=True)
