"""CLI verbs of the evaluate stage: `tunewise eval` and `tunewise compare` (the release gate)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from tunewise.cli._console import console, err_console


def _configs(config: Path | None, **overrides: Any) -> tuple[Any, Any, Any]:
    """(project config or None, EvalConfig, GateConfig) with command-line overrides applied."""
    from tunewise.evaluate.config import EvalConfig, GateConfig

    project = None
    eval_cfg, gate_cfg = EvalConfig(), GateConfig()
    if config is not None:
        from tunewise.config import load_config

        project = load_config(config)
        eval_cfg, gate_cfg = project.eval, project.gate
    updates = {k: v for k, v in overrides.items() if v is not None}
    return project, eval_cfg.model_copy(update=updates), gate_cfg


def _golden(golden: Path | None, project: Any, eval_cfg: Any) -> Path:
    from tunewise.errors import ConfigError

    if golden is not None:
        return golden
    if project is not None and eval_cfg.golden:
        return project.resolve(eval_cfg.golden)
    raise ConfigError("no golden set: pass --golden FILE (or set eval.golden in tunewise.yaml)")


def _with_prompt(
    variant: Any, few_shot: int | None, train: Path | None, selection: str | None, seed: int | None
) -> Any:
    updates = {
        "few_shot": few_shot,
        "train": str(train) if train else None,
        "selection": selection,
        "seed": seed,
    }
    updates = {k: v for k, v in updates.items() if v is not None}
    return (
        variant.model_copy(update={"prompt": variant.prompt.model_copy(update=updates)})
        if updates
        else variant
    )


def _print_metrics(title: str, rows: Sequence[Sequence[str]], head: Sequence[str]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, h in enumerate(head):
        table.add_column(h, justify="left" if i == 0 else "right")
    for r in rows:
        table.add_row(*r)
    console.print(table)


def eval_cmd(
    golden: Path = typer.Option(
        None, "--golden", help="Golden set JSONL ({id, messages, expected, tags})."
    ),
    base: str = typer.Option(
        None, "--base", help="Local base model: smollm2-135m or a Hugging Face folder."
    ),
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
    config: Path = typer.Option(
        None, "--config", "-c", help="tunewise.yaml whose eval: section applies."
    ),
    max_new_tokens: int = typer.Option(
        None, "--max-new-tokens", help="Generation budget per answer."
    ),
    batch_size: int = typer.Option(
        None, "--batch-size", help="Prompts per batch for local models."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore cached generations."),
) -> None:
    """Evaluate one model on a golden set: per-metric scores, latency, tokens and cost."""
    from tunewise.evaluate.api import evaluate_variant
    from tunewise.evaluate.variants import Variant, parse_variant

    project, eval_cfg, _ = _configs(
        config,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        cache=False if no_cache else None,
    )
    v = (
        parse_variant(variant)
        if variant
        else Variant(
            model=base or (project.train.base if project else "smollm2-135m"),
            adapter=str(adapter) if adapter else None,
        )
    )
    v = _with_prompt(v, few_shot, train, selection, None)
    run = evaluate_variant(_golden(golden, project, eval_cfg), v, eval_cfg, out=out)
    rows = [(m, f"{100 * val:.1f}") for m, val in run.means().items()]
    _print_metrics(
        f"{run.label} on {len(run.cases)} cases ({run.cache_hits} cached)",
        rows,
        ("metric", "score"),
    )
    if out:
        err_console.print(f"wrote {out / 'eval.json'} and {out / 'results.jsonl'}")


def compare_cmd(
    golden: Path = typer.Option(
        None, "--golden", help="Golden set JSONL ({id, messages, expected, tags})."
    ),
    base_variant: str = typer.Option(
        None, "--base-variant", help="Base side: KIND:MODEL[,key=value] or a YAML file."
    ),
    candidate_variant: str = typer.Option(
        None, "--candidate-variant", help="Candidate side, same forms."
    ),
    base: str = typer.Option(None, "--base", help="Shorthand: local base model for both sides."),
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
    config: Path = typer.Option(
        None, "--config", "-c", help="tunewise.yaml whose eval: and gate: sections apply."
    ),
    curve: Path = typer.Option(
        None,
        "--curve",
        help="Training curve JSON (default: looked up in the candidate's adapter folder).",
    ),
    primary_metric: str = typer.Option(
        None, "--primary-metric", help="Metric the lift rule uses (default exact_match)."
    ),
    no_forgetting: bool = typer.Option(
        False, "--no-forgetting", help="Skip the general-capability suite."
    ),
    max_new_tokens: int = typer.Option(
        None, "--max-new-tokens", help="Generation budget per answer."
    ),
    batch_size: int = typer.Option(
        None, "--batch-size", help="Prompts per batch for local models."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore cached generations."),
) -> None:
    """Compare a candidate with the base on the same golden set and apply the release gate.

    Exits 0 when the gate accepts and 10 when it blocks, so CI can use it as is.
    """
    from tunewise.errors import ConfigError, GateBlocked
    from tunewise.evaluate.api import compare_variants
    from tunewise.evaluate.variants import Variant, parse_variant

    project, eval_cfg, gate_cfg = _configs(
        config, primary_metric=primary_metric, max_new_tokens=max_new_tokens, batch_size=batch_size,
        cache=False if no_cache else None, forgetting_suite="" if no_forgetting else None,
    )  # fmt: skip
    default_base = base or (project.train.base if project else "smollm2-135m")
    b = parse_variant(base_variant) if base_variant else Variant(model=default_base)
    if candidate_variant:
        c = parse_variant(candidate_variant)
    elif candidate_adapter:
        c = Variant(model=default_base, adapter=str(candidate_adapter))
    else:
        raise ConfigError("no candidate: pass --candidate-adapter DIR or --candidate-variant SPEC")
    b, c = (_with_prompt(v, few_shot, train, selection, None) for v in (b, c))
    report = compare_variants(
        _golden(golden, project, eval_cfg),
        b,
        c,
        eval_cfg=eval_cfg,
        gate_cfg=gate_cfg,
        out=out,
        curve=curve,
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
