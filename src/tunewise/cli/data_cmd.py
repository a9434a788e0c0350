"""`tunewise data check|prepare|cost`: thin verbs over `tunewise.data.prepare` and `tunewise.data.cost`."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from tunewise.cli import options as o
from tunewise.cli._console import console, err_console
from tunewise.errors import DataError

EXIT_CODES = (
    "Exit codes: 0 no blocking problem (rows may still be rejected: see the table); "
    "2 invalid config or option; 3 blocking data problem (too few examples, PII with --pii fail, "
    "synthetic share above the cap, unreadable input); 4 a needed package is missing."
)
_STEPS = ["load", "validate", "tokens", "pii", "quality", "dedup", "split", "write"]


def _config(config: Path | None, overrides: dict[str, Any]) -> tuple[Any, list[Path]]:
    """The data config (file, then options, validated together) with its paths made absolute."""
    from tunewise.config import load_config

    project = load_config(config, overrides)
    data = project.data.model_copy(deep=True)
    inputs = [project.resolve(p) for p in data.inputs]
    if data.split.golden_file:
        data.split.golden_file = str(project.resolve(data.split.golden_file))
    schema = data.quality.output_json_schema
    if isinstance(schema, str) and project.resolve(schema).is_file():
        data.quality.output_json_schema = str(project.resolve(schema))
    return data, inputs


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
    quiet_opt = typer.Option(False, "--quiet", "-q", help="No progress bar.")

    @data_app.command("check", epilog=EXIT_CODES)
    def check_cmd(
        ctx: typer.Context,
        files: list[Path] = files_arg,
        config: o.ConfigFile = None,
        sets: o.Sets = None,
        target: o.DataTarget = None,
        pii: o.Pii = None,
        golden: o.SplitGolden = None,
        validation_share: o.ValidationShare = None,
        golden_share: o.GoldenShare = None,
        synthetic_cap: o.SyntheticCap = None,
        provenance: o.Provenance = None,
        stratify_by: o.StratifyBy = None,
        epochs: o.DataEpochs = None,
        system_prompt: o.SystemPrompt = None,
        tag_column: o.TagColumns = None,
        input_column: o.InputColumn = None,
        output_column: o.OutputColumn = None,
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

        data, inputs = _config(config, o.overrides(ctx))
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
        ctx: typer.Context,
        files: list[Path] = files_arg,
        out: Path = typer.Option(..., "--out", "-o", help="Dataset version folder to create."),
        config: o.ConfigFile = None,
        sets: o.Sets = None,
        target: o.DataTarget = None,
        pii: o.Pii = None,
        golden: o.SplitGolden = None,
        validation_share: o.ValidationShare = None,
        golden_share: o.GoldenShare = None,
        synthetic_cap: o.SyntheticCap = None,
        provenance: o.Provenance = None,
        augment: o.Augment = None,
        stratify_by: o.StratifyBy = None,
        seed: o.SplitSeed = None,
        epochs: o.DataEpochs = None,
        system_prompt: o.SystemPrompt = None,
        tag_column: o.TagColumns = None,
        input_column: o.InputColumn = None,
        output_column: o.OutputColumn = None,
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Replace an existing non-empty --out folder."
        ),
        quiet: bool = quiet_opt,
    ) -> None:
        """Write a dataset version: train/validation/golden/rejects.jsonl and manifest.json (all or nothing)."""
        from tunewise.data.prepare import prepare

        data, inputs = _config(config, o.overrides(ctx))
        with _progress(not quiet) as step:
            result = prepare(files or inputs, data, out, progress=step, overwrite=overwrite)
        _summary(result.check, f"data prepare ({result.check.target.spec})")
        console.print(
            f"[green]✓[/] wrote {out} (version {data.version}); rejects in {out / 'rejects.jsonl'}",
            markup=True,
        )

    @data_app.command("cost", epilog=EXIT_CODES)
    def cost_cmd(
        ctx: typer.Context,
        files: list[Path] = files_arg,
        config: o.ConfigFile = None,
        sets: o.Sets = None,
        target: o.DataTarget = None,
        epochs: o.DataEpochs = None,
        system_prompt: o.SystemPrompt = None,
        input_column: o.InputColumn = None,
        output_column: o.OutputColumn = None,
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
            config, o.overrides(ctx, **{"data.pii.mode": "off", "data.dedup.near": False})
        )
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
