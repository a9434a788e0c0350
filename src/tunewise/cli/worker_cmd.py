"""`tunewise worker`: trains the jobs created through the fine-tuning API (`tunewise serve`)."""

from __future__ import annotations

import typer

from tunewise.cli import options as o
from tunewise.cli._console import err_console


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker_cmd(
        ctx: typer.Context,
        config: o.ConfigFile = None,
        sets: o.Sets = None,
        db: str = typer.Option(
            None,
            "--db",
            help="Store URL (default TUNEWISE_DB_URL, then the config, then .tunewise/).",
        ),
        concurrency: int = typer.Option(
            1, "--concurrency", "-n", min=1, help="Jobs trained at the same time."
        ),
    ) -> None:
        """Train the jobs of the fine-tuning API (`POST /v1/fine_tuning/jobs` on `tunewise serve`).

        Validates each job's files, then trains queued jobs in the order they were created, at
        most `--concurrency` at once, each in its own process. Several workers (on several
        machines, with a PostgreSQL store) never take the same job. Stop it with Ctrl-C or
        SIGTERM: running jobs stop at their next step and are requeued; the next worker
        continues them from their checkpoints. Settings: the `serve.fine_tuning` section.
        """
        from tunewise.serve.finetune.service import FineTuning
        from tunewise.serve.finetune.worker import run_worker
        from tunewise.serve.server import load_project, store_url
        from tunewise.store import display_url

        cfg = load_project(config, o.overrides(ctx))
        url = store_url(cfg, db)
        ft = FineTuning(url, cfg.serve.fine_tuning)
        err_console.print(
            f"tunewise worker: {display_url(url)}, up to {concurrency} job(s) at a time; "
            f"files and models under {ft.folder}",
            soft_wrap=True,
            markup=False,
        )
        run_worker(ft, concurrency)
