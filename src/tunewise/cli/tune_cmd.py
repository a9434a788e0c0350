"""`tunewise tune`: search the training settings and write the best back to a tunewise.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from tunewise.cli import options as o
from tunewise.cli._console import console, err_console


def register(app: typer.Typer) -> None:
    @app.command("tune")
    def tune_cmd(
        ctx: typer.Context,
        config: Path = typer.Argument(..., help="The project's tunewise.yaml."),
        write: bool = typer.Option(
            False,
            "--write",
            help="Update CONFIG itself with the best settings (default: write CONFIG's name "
            "with .tuned.yaml next to it and leave CONFIG untouched).",
        ),
        run_id: str | None = typer.Option(
            None, "--run-id", help="Folder under run.runs_dir (default: the project name)."
        ),
        progress: bool = typer.Option(
            True, "--progress/--no-progress", help="Progress bars on stderr."
        ),
        sets: o.Sets = None,
        budget: o.Budget = None,
        trials: o.Trials = None,
        base: o.Base = None,
        max_length: o.MaxLength = None,
        batch_size: o.TrainBatchSize = None,
        dtype: o.Dtype = None,
        threads: o.Threads = None,
    ) -> None:
        """Search learning rate, epochs, LoRA rank and targets and the rehearsal share with Optuna.

        Each trial is a training job (see `tunewise jobs list`) on the train split, scored by the
        primary metric on the validation split; a trial whose general-suite drop the gate would
        block for forgetting does not count as best. TPE samples the settings (trial 0 is the
        config as written); the median pruner stops a trial whose validation loss lags the
        earlier trials'. The data stage and the search are the ones `tunewise run` uses with
        `run.tune: true`, so such a run reuses this search and its best adapter.

        Writes runs/RUN_ID/tune/trials.{json,png,html} and the best settings to
        CONFIG.tuned.yaml (or CONFIG with --write).
        """
        from tunewise.config import load_config
        from tunewise.pipeline.run import RunOptions, search_stages
        from tunewise.pipeline.stages import run_stages
        from tunewise.tune.write import write_tuned

        cfg = load_config(config, o.overrides(ctx))
        opts = RunOptions(run_id=run_id, progress=progress, on_trial=print_trial)
        run_dir = Path(cfg.run.runs_dir) / (run_id or cfg.project)
        run_dir.mkdir(parents=True, exist_ok=True)
        err_console.print(
            f"searching for up to {cfg.tune.budget} ({cfg.tune.trials or 'unlimited'} trials); "
            f"trials are jobs in the job store"
        )
        records = run_stages(run_dir, search_stages(cfg, opts))
        out = records[-1].outputs
        if records[-1].status == "cached":
            err_console.print("stage tune: unchanged, reused (same data, config and budget)")
        _print_table(run_dir / "tune")
        best = out["best"]
        verdict = "meets" if best["feasible"] else "does NOT meet (no trial did)"
        console.print(
            f"[bold]best: trial {best['number']}, {cfg.eval.primary_metric} {best['score']:.1%} on "
            f"the validation split (trial 0, the config as written: "
            f"{_pct(out.get('first_score'))}); it {verdict} the forgetting limit[/]",
            soft_wrap=True,
        )
        note = f"# Tuned by `tunewise tune` (best of {sum(out['counts'].values())} trials; {out['report']})."
        dest, kept = write_tuned(Path(config), out["overrides"], write=write, note=note)
        console.print(
            f"wrote the best settings to {dest}"
            + ("" if kept else " (comments not kept: pip install ruamel.yaml)"),
            soft_wrap=True,
            markup=False,
        )
        console.print(f"trials: {out['report']}", soft_wrap=True, markup=False)
        console.print(
            f"next: tunewise run {dest}   (or set run.tune: true in {config} to reuse this search)",
            soft_wrap=True,
            markup=False,
        )


def _pct(x: Any) -> str:
    return f"{x:.1%}" if isinstance(x, int | float) else "-"


def print_trial(r: Any) -> None:
    """One line per finished trial on stderr (tunewise tune, and tunewise run with run.tune)."""
    from tunewise.tune.report import row

    cells = row(r)
    err_console.print(
        f"trial {cells[0]}: {cells[1]} - lr {cells[2]}, {cells[3]} epochs, r {cells[4]} "
        f"({cells[5]}), rehearsal {cells[6]} -> {cells[7]}, forgetting {cells[9]} ({cells[10]})",
        markup=False,
    )


def _print_table(folder: Path) -> None:
    from tunewise.artifacts import read_json
    from tunewise.tune.report import COLUMNS, row
    from tunewise.tune.trial import TrialResult

    data = read_json(folder / "trials.json")
    table = Table(title=f"tunewise tune: {folder}")
    for col in COLUMNS:
        table.add_column(col)
    fields = set(TrialResult.__dataclass_fields__)
    for t in data["trials"]:
        table.add_row(*row(TrialResult(**{k: v for k, v in t.items() if k in fields})))
    console.print(table)
