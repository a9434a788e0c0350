"""`tunewise run`: the whole pipeline for one tunewise.yaml."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tunewise.cli import options as o
from tunewise.cli._console import console, err_console


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        ctx: typer.Context,
        config: Path = typer.Argument(..., help="The project's tunewise.yaml."),
        run_id: str | None = typer.Option(
            None, "--run-id", help="Folder under run.runs_dir (default: the project name)."
        ),
        resume: bool = typer.Option(
            False,
            "--resume",
            help="Continue a run that stopped: finished stages are reused and an interrupted "
            "training job continues from its last checkpoint (same job id).",
        ),
        train_anyway: bool = typer.Option(
            False,
            "--train-anyway",
            help="Train even when a prompt-only variant already reaches run.target_score.",
        ),
        progress: bool = typer.Option(
            True, "--progress/--no-progress", help="Progress bars on stderr."
        ),
        data: list[Path] = typer.Option(
            [], "--data", help="Training file(s) replacing data.inputs (repeatable)."
        ),
        sets: o.Sets = None,
        target: o.DataTarget = None,
        pii: o.Pii = None,
        base: o.Base = None,
        method: o.Method = None,
        epochs: o.TrainEpochs = None,
        learning_rate: o.LearningRate = None,
        batch_size: o.TrainBatchSize = None,
        max_steps: o.MaxSteps = None,
        max_length: o.MaxLength = None,
        lora_r: o.LoraR = None,
        dtype: o.Dtype = None,
        threads: o.Threads = None,
        packing: o.Packing = None,
        max_new_tokens: o.MaxNewTokens = None,
        few_shot: o.FewShot = None,
        target_score: o.TargetScore = None,
        min_lift: o.MinLift = None,
        tune: o.RunTune = None,
        budget: o.Budget = None,
        trials: o.Trials = None,
    ) -> None:
        """Run data prepare -> decide -> cost -> baseline eval -> cheapest -> train -> compare & gate -> register.

        Each stage writes under `runs/RUN_ID/STAGE/` and is keyed by a hash of its inputs and
        config: a re-run skips unchanged stages (and says so), a change re-runs only what depends
        on it. A stage that did not finish starts over, except that with --resume an interrupted
        training job continues from its last checkpoint (same job id). The baseline tries
        prompts and, when answers are labels, an embedding classifier; if one already reaches
        run.target_score the run says so, registers the classifier and stops before training
        (--train-anyway trains regardless). The fine-tune must also beat the best of them by the
        gate's margin. Exit code 0 when the gate accepts (or training was not needed), 10 when it
        blocks.

        Options and `--set PATH=VALUE` override the file's keys (validated with it); they are part
        of the config the stages are keyed by, so changing one re-runs what depends on it.
        """
        from rich.markup import escape

        from tunewise.cli.tune_cmd import print_trial
        from tunewise.errors import GateBlocked
        from tunewise.pipeline.run import RunOptions
        from tunewise.pipeline.run import run as run_pipeline
        from tunewise.pipeline.stages import StageRecord

        overrides = o.overrides(ctx)

        def on_event(rec: StageRecord) -> None:
            label = {
                "ran": "[green]done[/]",
                "cached": "[dim]unchanged, reused[/]",
                "skipped": "[yellow]skipped[/]",
            }[rec.status]
            extra = f" ({rec.seconds:.1f} s)" if rec.status == "ran" else ""
            extra += f" - {escape(rec.note)}" if rec.note and rec.status == "ran" else ""
            err_console.print(f"stage [bold]{rec.name}[/]: {label}{extra}", markup=True)
            for warning in (rec.outputs.get("warnings") or []) if rec.status == "ran" else []:
                err_console.print(f"  warning: {escape(warning)}", markup=True)

        summary = run_pipeline(
            config,
            RunOptions(
                run_id=run_id,
                resume=resume,
                train_anyway=train_anyway,
                progress=progress,
                on_event=on_event,
                on_trial=print_trial,
                inputs=data or None,
                overrides=overrides,
            ),
        )
        table = Table(title=f"tunewise run: {summary.run_dir}")
        for col in ("stage", "status", "time", "result"):
            table.add_column(col)
        for rec in summary.records:
            table.add_row(rec.name, rec.status, f"{rec.seconds:.1f} s", _result(rec))
        console.print(table)
        console.print(f"[bold]{summary.verdict}[/]", markup=True)
        console.print(f"summary: {summary.run_dir / 'summary.html'}")
        for line in summary.details.get("next") or []:
            console.print(f"next, {line}", markup=False, soft_wrap=True)
        if summary.details.get("decision") == "block":
            raise GateBlocked(f"{summary.verdict}; see {summary.run_dir / 'compare' / 'report.md'}")

    def _result(rec: object) -> str:
        from tunewise.pipeline.stages import StageRecord

        assert isinstance(rec, StageRecord)
        o = rec.outputs
        if rec.status == "skipped":
            return rec.note[:80]
        if rec.name == "data":
            c = o.get("counts", {})
            return f"read {c.get('read')}, kept {c.get('kept')}, rejected {c.get('rejected')}; train {c.get('train')}, golden {c.get('golden')}"
        if rec.name == "decide":
            return f"matrix says: {o.get('recommendation')}"
        if rec.name == "cost":
            cost = o.get("cost") or {}
            usd = cost.get("training_usd")
            if not isinstance(usd, (int, float)):
                return "-"
            return f"{cost.get('billed_tokens', 0):,} billed tokens on {cost.get('target')}: ≈ ${usd:.2f}"
        if rec.name == "baseline":
            labels = o.get("labels") or {}
            return ", ".join(
                f"{labels.get(k, k)} {v:.1%}" for k, v in (o.get("scores") or {}).items()
            )
        if rec.name == "cheapest":
            reached = "reaches" if o.get("reached") else "is below"
            text = f"{o.get('label')} {o.get('score', 0):.1%} {reached} the target {o.get('target', 0):.0%}"
            return text + (
                f"; registered as {o['registered']['model']}" if o.get("registered") else ""
            )
        if rec.name == "tune":
            best = o.get("best") or {}
            return f"best of {sum((o.get('counts') or {}).values())} trials: trial {best.get('number')}, {best.get('score', 0):.1%} on validation"
        if rec.name == "train":
            if o.get("from_trial") is not None:
                return f"job {o.get('job_id')}: the search's trial {o['from_trial']}"
            resumed = o.get("resumed_from_step")
            return f"job {o.get('job_id')} {o.get('status')}" + (
                f" (resumed from step {resumed})" if resumed else ""
            )
        if rec.name == "compare":
            p = o.get("primary") or {}
            if p.get("candidate") is not None:
                return f"{p['metric']} {p['base']:.1%} -> {p['candidate']:.1%}; gate {o.get('decision')}"
            return f"gate {o.get('decision')}"
        if rec.name == "register":
            instead = o.get("instead")
            return f"registered as {o.get('model')}" + (
                f"; the classifier as {instead['model']}" if instead else ""
            )
        return ""
