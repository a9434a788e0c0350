"""CLI verbs of the evaluate stage: `tunewise eval` and `tunewise compare` (the release gate)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from tunewise.cli import options as o
from tunewise.cli._console import console, err_console


def _golden(project: Any) -> Path:
    from tunewise.errors import ConfigError

    if project.eval.golden:
        return Path(project.resolve(project.eval.golden))
    raise ConfigError("no golden set: pass --golden FILE (or set eval.golden in tunewise.yaml)")


def _with_prompt(
    variant: Any, few_shot: int | None, train: Path | None, selection: str | None
) -> Any:
    """The variant with the prompt options applied, validated (a bad one is exit code 2)."""
    from pydantic import ValidationError

    from tunewise.errors import ConfigError
    from tunewise.overlay import humanize_error

    updates = {"few_shot": few_shot, "train": str(train) if train else None, "selection": selection}
    updates = {k: v for k, v in updates.items() if v is not None}
    if not updates:
        return variant
    try:
        prompt = type(variant.prompt).model_validate({**variant.prompt.model_dump(), **updates})
    except ValidationError as exc:
        problems = "\n  ".join(f"prompt.{humanize_error(e)}" for e in exc.errors())  # type: ignore[arg-type]
        raise ConfigError(f"invalid prompt option(s):\n  {problems}") from None
    return variant.model_copy(update={"prompt": prompt})


def _print_metrics(title: str, rows: Sequence[Sequence[str]], head: Sequence[str]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, h in enumerate(head):
        table.add_column(h, justify="left" if i == 0 else "right")
    for r in rows:
        table.add_row(*r)
    console.print(table)


def eval_cmd(
    ctx: typer.Context,
    golden: o.EvalGolden = None,
    base: o.Base = None,
    adapter: Path = typer.Option(
        None, "--adapter", help="PEFT adapter folder applied on the base."
    ),
    variant: str = typer.Option(
        None,
        "--variant",
        help="Any variant instead of --base: KIND:MODEL[,key=value] or a YAML file.",
    ),
    few_shot: int = typer.Option(
        None, "--few-shot", help="k examples from --train prepended to each prompt."
    ),
    train: Path = typer.Option(
        None, "--train", help="Train JSONL the few-shot examples come from."
    ),
    selection: str = typer.Option(
        None, "--selection", help="Few-shot selection: nearest or random."
    ),
    out: Path = typer.Option(None, "--out", help="Folder for eval.json and results.jsonl."),
    config: o.ConfigFile = None,
    sets: o.Sets = None,
    max_new_tokens: o.MaxNewTokens = None,
    batch_size: o.EvalBatchSize = None,
    cache: o.Cache = None,
) -> None:
    """Evaluate one model on a golden set: per-metric scores, latency, tokens and cost."""
    from tunewise.config import load_config
    from tunewise.evaluate.api import evaluate_variant
    from tunewise.evaluate.variants import Variant, parse_variant

    project = load_config(config, o.overrides(ctx))
    v = (
        parse_variant(variant)
        if variant
        else Variant(model=project.train.base, adapter=str(adapter) if adapter else None)
    )
    v = _with_prompt(v, few_shot, train, selection)
    run = evaluate_variant(_golden(project), v, project.eval, out=out)
    rows = [(m, f"{100 * val:.1f}") for m, val in run.means().items()]
    _print_metrics(
        f"{run.label} on {len(run.cases)} cases ({run.cache_hits} cached)",
        rows,
        ("metric", "score"),
    )
    if out:
        err_console.print(f"wrote {out / 'eval.json'} and {out / 'results.jsonl'}")


def compare_cmd(
    ctx: typer.Context,
    golden: o.EvalGolden = None,
    base_variant: str = typer.Option(
        None, "--base-variant", help="Base side: KIND:MODEL[,key=value] or a YAML file."
    ),
    candidate_variant: str = typer.Option(
        None, "--candidate-variant", help="Candidate side, same forms."
    ),
    base: o.Base = None,
    candidate_adapter: Path = typer.Option(
        None, "--candidate-adapter", help="Shorthand: candidate = --base + this adapter."
    ),
    few_shot: int = typer.Option(
        None, "--few-shot", help="k examples from --train prepended on both sides."
    ),
    train: Path = typer.Option(
        None, "--train", help="Train JSONL the few-shot examples come from."
    ),
    selection: str = typer.Option(
        None, "--selection", help="Few-shot selection: nearest or random."
    ),
    out: Path = typer.Option(
        Path("eval-report"), "--out", help="Folder for report.json, report.md, report.html."
    ),
    config: o.ConfigFile = None,
    sets: o.Sets = None,
    curve: Path = typer.Option(
        None,
        "--curve",
        help="Training curve JSON (default: looked up in the candidate's adapter folder).",
    ),
    alternative: list[str] = typer.Option(
        [],
        "--alternative",
        help="A non-fine-tuned variant the candidate must beat (gate rule beats_alternative), "
        "e.g. classifier:DIR or local:smollm2-135m,few_shot=3,train=F (repeatable).",
    ),
    primary_metric: o.PrimaryMetric = None,
    min_lift: o.MinLift = None,
    no_forgetting: o.NoForgetting = False,
    max_new_tokens: o.MaxNewTokens = None,
    batch_size: o.EvalBatchSize = None,
    cache: o.Cache = None,
) -> None:
    """Compare a candidate with the base on the same golden set and apply the release gate.

    Exits 0 when the gate accepts and 10 when it blocks, so CI can use it as is.
    """
    from tunewise.config import load_config
    from tunewise.errors import ConfigError, GateBlocked
    from tunewise.evaluate.api import compare_variants
    from tunewise.evaluate.variants import Variant, parse_variant

    project = load_config(config, o.overrides(ctx))
    default_base = project.train.base
    b = parse_variant(base_variant) if base_variant else Variant(model=default_base)
    if candidate_variant:
        c = parse_variant(candidate_variant)
    elif candidate_adapter:
        c = Variant(model=default_base, adapter=str(candidate_adapter))
    else:
        raise ConfigError("no candidate: pass --candidate-adapter DIR or --candidate-variant SPEC")
    b, c = (_with_prompt(v, few_shot, train, selection) for v in (b, c))
    report = compare_variants(
        _golden(project),
        b,
        c,
        eval_cfg=project.eval,
        gate_cfg=project.gate,
        out=out,
        curve=curve,
        alternatives=[parse_variant(a) for a in alternative],
    )
    gate = report["gate"]
    rows = [(r["rule"], r["status"], r["detail"]) for r in gate["rules"]]
    _print_metrics(f"gate: {gate['decision'].upper()}", rows, ("rule", "outcome", "detail"))
    err_console.print(f"reports: {out / 'report.md'}, {out / 'report.html'}, {out / 'report.json'}")
    if gate["decision"] != "accept":
        raise GateBlocked(
            f"release gate blocked the candidate ({', '.join(gate['blocked_by'])}); see {out / 'report.md'}"
        )


def register(app: typer.Typer) -> None:
    """Add this stage's verbs to the root app."""
    app.command("eval")(eval_cmd)
    app.command("compare")(compare_cmd)
