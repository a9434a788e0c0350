"""`tunewise data check|prepare|cost`: thin verbs over `tunewise.data.prepare` and `tunewise.data.cost`."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from tunewise.cli._console import console, err_console
from tunewise.errors import ConfigError, DataError

EXIT_CODES = (
    "Exit codes: 0 no blocking problem (rows may still be rejected: see the table); "
    "2 invalid config or option; 3 blocking data problem (too few examples, PII with --pii fail, "
    "synthetic share above the cap, unreadable input); 4 a needed package is missing."
)
_STEPS = ["load", "validate", "tokens", "pii", "quality", "dedup", "split", "write"]


def _config(config: Path | None, overrides: dict[str, Any]) -> tuple[Any, list[Path]]:
    """The data config from tunewise.yaml (or defaults) with command-line overrides, validated together."""
    from tunewise.config import config_problems, load_config
    from tunewise.data.config import DataConfig

    project = load_config(config) if config else None
    raw = (
        project.data.model_dump(mode="json")
        if project
        else DataConfig.model_validate({}).model_dump(mode="json")
    )
    for dotted, value in overrides.items():
        if value is None:
            continue
        section = raw
        *parents, leaf = dotted.split(".")
        for p in parents:
            section = section[p]
        section[leaf] = value
    problems = config_problems({"data": raw})
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in the data config and options:\n  "
            + "\n  ".join(problems)
        )
    data = DataConfig.model_validate(raw)
    inputs = [project.resolve(p) for p in data.inputs] if project else []
    if project and data.split.golden_file and "split.golden_file" not in overrides:
        data.split.golden_file = str(project.resolve(data.split.golden_file))
    schema = data.quality.output_json_schema
    if project and isinstance(schema, str) and project.resolve(schema).is_file():
        data.quality.output_json_schema = str(project.resolve(schema))
    return data, inputs


_OPTION_PATHS = {
    "target": "target",
    "pii": "pii.mode",
    "golden": "split.golden_file",
    "synthetic_cap": "provenance.max_synthetic_share",
    "provenance": "provenance.default",
    "augment": "augment.enabled",
    "stratify_by": "split.stratify_by",
    "seed": "split.seed",
    "epochs": "epochs",
    "system_prompt": "input.system_prompt",
    "tag_column": "input.tag_columns",
    "input_column": "input.input_column",
    "output_column": "input.output_column",
}


def _overrides(**options: Any) -> dict[str, Any]:
    """Command-line options as dotted config paths (options left unset are skipped)."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        if value is None or value == []:
            continue
        if name == "golden":
            value = str(value)
        if name == "epochs" and value != "auto":
            if not str(value).isdigit():
                raise ConfigError(f"--epochs: {value!r} is not a whole number or 'auto'")
            value = int(value)
        out[_OPTION_PATHS[name]] = value
    return out


@contextmanager
def _progress(enabled: bool):  # type: ignore[no-untyped-def]
    """A step-by-step progress bar on stderr (silent with --quiet)."""
    if not enabled:
        yield lambda _step: None
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("data", total=len(_STEPS))

        def step(name: str) -> None:
            done = _STEPS.index(name) if name in _STEPS else 0
            bar.update(task, completed=done, description=f"data: {name}")

        yield step


def _fmt_usd(v: float | None) -> str:
    return "n/a" if v is None else f"${v:,.2f}"


def _summary(result: Any, title: str) -> None:
    from rich.table import Table

    c = result.counts
    t = Table(title=title, show_header=True, header_style="bold")
    t.add_column("step")
    t.add_column("rows", justify="right")
    rows = [
        ("read", "read"),
        ("unreadable / malformed", "rejected_on_load"),
        ("invalid for target", "invalid_for_target"),
        ("over token limit", "too_long"),
        ("failed quality rules", "quality"),
        ("conflicting labels", "conflicting_labels"),
        ("exact duplicates", "duplicates_exact"),
        ("near duplicates", "duplicates_near"),
        ("leakage (dropped from train)", "leakage"),
        ("rejected (total)", "rejected"),
        ("kept", "kept"),
        ("  train", "train"),
        ("  validation", "validation"),
        ("  golden", "golden"),
        ("  golden (from your file)", "golden_from_file"),
        ("augmented (extra, train)", "augmented"),
    ]
    for label, key in rows:
        if key in c and (c[key] or key != "golden_from_file"):
            t.add_row(label, f"{c[key]:,}")
    console.print(t)
    tok = result.tokens
    console.print(
        f"tokens ({result.target.encoding or result.target.name}): total {tok['total']:,}, mean {tok['mean']:,}, "
        f"p95 {tok['p95']:,}, max {tok['max']:,}"
    )
    console.print(
        "provenance: " + (", ".join(f"{k} {v:,}" for k, v in result.provenance.items()) or "none")
    )
    if result.labels and list(result.labels) != ["(none)"]:
        top = sorted(result.labels.items(), key=lambda kv: (-kv[1], kv[0]))
        more = f" ... ({len(top)} labels)" if len(top) > 12 else ""
        console.print("labels: " + ", ".join(f"{k} {v:,}" for k, v in top[:12]) + more)
    pii = result.pii
    if pii.get("engine"):
        found = ", ".join(f"{k} {v:,}" for k, v in pii["counts"].items()) or "none"
        console.print(
            f"PII ({pii['mode']}, {pii['engine']}): {found} in {pii['rows_with_pii']:,} row(s)"
        )
    if result.dedup["clusters"]:
        console.print(
            f"duplicate clusters: {result.dedup['clusters']:,} (largest {result.dedup['largest']})"
        )
    _cost_lines(result.cost)
    for j in result.rejects[:8]:
        console.print(
            f"[yellow]✗[/] {j.reasons[0]}"
            + (f" (+{len(j.reasons) - 1} more)" if len(j.reasons) > 1 else ""),
            markup=True,
            soft_wrap=True,
        )
    if len(result.rejects) > 8:
        console.print(f"... and {len(result.rejects) - 8:,} more rejected row(s)")


def _cost_lines(cost: Any) -> None:
    ep = f"{cost.epochs} epoch(s){' (auto)' if cost.epochs_auto else ''}"
    console.print(
        f"training cost: {_fmt_usd(cost.training_usd)} for {cost.billed_tokens:,} billed tokens ({cost.tokens:,} x {ep}); {cost.note}"
    )
    be = cost.break_even
    if be is not None:
        when = (
            f"{be.months_to_break_even} month(s)"
            if be.months_to_break_even is not None
            else "never (the fine-tuned price outweighs the saving)"
        )
        console.print(
            f"break-even: {be.monthly_requests:,} requests/month, {be.prompt_tokens_saved:,} prompt tokens saved each: "
            f"base {_fmt_usd(be.monthly_cost_base)}/month vs fine-tuned {_fmt_usd(be.monthly_cost_finetuned)}/month -> {when}"
        )


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Check, prepare and price training data.", no_args_is_help=True)
    files_arg = typer.Argument(
        None, help="Input files (JSONL, CSV, Parquet); default: data.inputs of --config."
    )
    config_opt = typer.Option(
        None, "--config", "-c", help="tunewise.yaml to read the data: section from."
    )
    target_opt = typer.Option(
        None,
        "--target",
        help="openai:MODEL, bedrock:FAMILY (nova, claude-3-haiku, llama3.1, ...) or local:MODEL.",
    )
    pii_opt = typer.Option(
        None, "--pii", help="report | redact | fail | off (default from config: redact)."
    )
    golden_opt = typer.Option(
        None, "--golden", help="Your own golden set; its prompts are kept out of train."
    )
    cap_opt = typer.Option(
        None, "--synthetic-cap", help="Largest allowed share of synthetic rows (0-1, default 0.3)."
    )
    prov_opt = typer.Option(
        None,
        "--provenance",
        help="human | synthetic | production, for rows without a provenance column.",
    )
    augment_opt = typer.Option(
        None, "--augment/--no-augment", help="Entity-swap augmentation of train rows (opt-in)."
    )
    strat_opt = typer.Option(
        None, "--stratify-by", help="Tag name or json:FIELD of the assistant JSON answer."
    )
    seed_opt = typer.Option(None, "--seed", help="Split seed.")
    epochs_opt = typer.Option(None, "--epochs", help="Epochs for the cost estimate, or 'auto'.")
    system_opt = typer.Option(
        None, "--system-prompt", help="System prompt for rows built from input/output columns."
    )
    tags_opt = typer.Option(
        None, "--tag-column", help="Column copied into tags (repeatable), e.g. category."
    )
    in_col_opt = typer.Option(
        None,
        "--input-column",
        help="Column with the user text in CSV/tabular JSONL (default input).",
    )
    out_col_opt = typer.Option(
        None,
        "--output-column",
        help="Column with the answer in CSV/tabular JSONL (default output).",
    )
    quiet_opt = typer.Option(False, "--quiet", "-q", help="No progress bar.")

    @data_app.command("check", epilog=EXIT_CODES)
    def check_cmd(
        files: list[Path] = files_arg,
        config: Path | None = config_opt,
        target: str | None = target_opt,
        pii: str | None = pii_opt,
        golden: Path | None = golden_opt,
        synthetic_cap: float | None = cap_opt,
        provenance: str | None = prov_opt,
        stratify_by: str | None = strat_opt,
        epochs: str | None = epochs_opt,
        system_prompt: str | None = system_opt,
        tag_column: list[str] | None = tags_opt,
        input_column: str | None = in_col_opt,
        output_column: str | None = out_col_opt,
        rejects: Path | None = typer.Option(
            None, "--rejects", help="Also write every rejected row to this JSONL file."
        ),
        as_json: bool = typer.Option(
            False, "--json", help="Print the summary as JSON instead of tables."
        ),
        quiet: bool = quiet_opt,
    ) -> None:
        """Report what prepare would keep and reject, and why; writes nothing unless --rejects."""
        from tunewise.data.prepare import check

        data, inputs = _config(
            config,
            _overrides(
                target=target,
                pii=pii,
                golden=golden,
                synthetic_cap=synthetic_cap,
                provenance=provenance,
                stratify_by=stratify_by,
                epochs=epochs,
                system_prompt=system_prompt,
                tag_column=tag_column,
                input_column=input_column,
                output_column=output_column,
            ),
        )
        with _progress(not quiet and not as_json) as step:
            result = check(files or inputs, data, progress=step)
        if rejects:
            from tunewise.artifacts import atomic_write_jsonl

            atomic_write_jsonl(rejects, [j.to_json() for j in result.rejects])
        if as_json:
            from tunewise.artifacts import canonical_json

            typer.echo(
                canonical_json(
                    {
                        "counts": result.counts,
                        "tokens": result.tokens,
                        "labels": result.labels,
                        "provenance": result.provenance,
                        "pii": result.pii,
                        "dedup": result.dedup,
                        "cost": result.cost.to_json(),
                        "blocking": result.blocking,
                    },
                    indent=2,
                ),
                nl=False,
            )
        else:
            _summary(result, f"data check ({result.target.spec})")
            if rejects:
                console.print(f"wrote {len(result.rejects):,} rejected row(s) to {rejects}")
        if result.blocking:
            raise DataError("blocking problem(s):\n  " + "\n  ".join(result.blocking))

    @data_app.command("prepare", epilog=EXIT_CODES)
    def prepare_cmd(
        files: list[Path] = files_arg,
        out: Path = typer.Option(..., "--out", "-o", help="Dataset version folder to create."),
        config: Path | None = config_opt,
        target: str | None = target_opt,
        pii: str | None = pii_opt,
        golden: Path | None = golden_opt,
        synthetic_cap: float | None = cap_opt,
        provenance: str | None = prov_opt,
        augment: bool | None = augment_opt,
        stratify_by: str | None = strat_opt,
        seed: int | None = seed_opt,
        epochs: str | None = epochs_opt,
        system_prompt: str | None = system_opt,
        tag_column: list[str] | None = tags_opt,
        input_column: str | None = in_col_opt,
        output_column: str | None = out_col_opt,
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Replace an existing non-empty --out folder."
        ),
        quiet: bool = quiet_opt,
    ) -> None:
        """Write a dataset version: train/validation/golden/rejects.jsonl and manifest.json (all or nothing)."""
        from tunewise.data.prepare import prepare

        data, inputs = _config(
            config,
            _overrides(
                target=target,
                pii=pii,
                golden=golden,
                synthetic_cap=synthetic_cap,
                provenance=provenance,
                augment=augment,
                stratify_by=stratify_by,
                seed=seed,
                epochs=epochs,
                system_prompt=system_prompt,
                tag_column=tag_column,
                input_column=input_column,
                output_column=output_column,
            ),
        )
        with _progress(not quiet) as step:
            result = prepare(files or inputs, data, out, progress=step, overwrite=overwrite)
        _summary(result.check, f"data prepare ({result.check.target.spec})")
        console.print(
            f"[green]✓[/] wrote {out} (version {data.version}); rejects in {out / 'rejects.jsonl'}",
            markup=True,
        )

    @data_app.command("cost", epilog=EXIT_CODES)
    def cost_cmd(
        files: list[Path] = files_arg,
        config: Path | None = config_opt,
        target: str | None = target_opt,
        epochs: str | None = epochs_opt,
        system_prompt: str | None = system_opt,
        input_column: str | None = in_col_opt,
        output_column: str | None = out_col_opt,
        prompt_tokens_saved: int = typer.Option(
            0,
            "--prompt-tokens-saved",
            help="Prompt tokens the fine-tune removes per request (e.g. a few-shot block).",
        ),
        monthly_requests: int = typer.Option(
            0, "--monthly-requests", help="Requests per month, for the break-even."
        ),
        quiet: bool = quiet_opt,
    ) -> None:
        """Training cost (tokens x epochs x price) and the break-even of a shorter prompt."""
        from tunewise.data.prepare import check

        data, inputs = _config(
            config,
            _overrides(
                target=target,
                pii="off",
                epochs=epochs,
                system_prompt=system_prompt,
                input_column=input_column,
                output_column=output_column,
            ),
        )
        data.dedup.near = False  # cost needs counts, not the near-duplicate pass
        with _progress(not quiet) as step:
            result = check(
                files or inputs,
                data,
                progress=step,
                cost_options={
                    "prompt_tokens_saved": prompt_tokens_saved,
                    "monthly_requests": monthly_requests,
                },
            )
        console.print(
            f"{result.counts['kept']:,} usable example(s) of {result.counts['read']:,} read; {result.tokens['total']:,} tokens"
        )
        _cost_lines(result.cost)

    app.add_typer(data_app, name="data")
