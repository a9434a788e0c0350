"""CLI verb of the monitor stage: `tunewise monitor FEATURE`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tunewise.cli import options as o
from tunewise.cli._console import console, err_console

TRIGGERED_EXIT = 11


def monitor_cmd(
    ctx: typer.Context,
    feature: str = typer.Argument(..., help="Feature (use case) whose traffic is checked."),
    config: Path = typer.Option(
        None, "--config", "-c", help="tunewise.yaml (default: ./tunewise.yaml when present)."
    ),
    sets: o.Sets = None,
    since: str = typer.Option(
        None,
        "--since",
        help="Look-back window (7d, 36h, 90m) or an ISO time (default: monitor.window).",
    ),
    until: str = typer.Option(None, "--until", help="End of the window, ISO time (default: now)."),
    requests: Path = typer.Option(
        None,
        "--requests",
        help="Request-log rows as JSONL (see tunewise.monitor.requests); default: the request "
        "log `tunewise serve` writes to the database.",
    ),
    db: str = typer.Option(
        None,
        "--db",
        help="Database URL (default TUNEWISE_DB_URL, else registry.url, else .tunewise/).",
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Folder for monitor.json and monitor.html (default: runs/monitor/...).",
    ),
    model: str = typer.Option(
        None, "--model", help="Registered model to compare with (default: FEATURE@monitor.alias)."
    ),
    train: Path = typer.Option(
        None, "--train", help="Training JSONL to compare with instead of the registry's lineage."
    ),
    check: bool = typer.Option(
        False, "--check", help=f"Exit {TRIGGERED_EXIT} when a trigger fires (for cron and CI)."
    ),
    record: bool = typer.Option(
        True, "--record/--no-record", help="Record fired triggers as a registry event."
    ),
    reviewed: Path = typer.Option(
        None,
        "--reviewed",
        help="A filled review file (from --export-review): its answers join the logged rows by "
        "request id, and the served answers are scored against them with eval.primary_metric "
        "(live quality then sees wrong but valid answers).",
    ),
    export_review: Path = typer.Option(
        None,
        "--export-review",
        help="Instead of the report, write a sample of the window's logged texts to this JSONL "
        "for review (fill `answer`, then `tunewise retrain FEATURE --reviewed FILE`).",
    ),
    review_limit: int = typer.Option(
        200, "--review-limit", min=1, help="Most rows --export-review writes."
    ),
) -> None:
    """Compare production traffic with the serving model's training data: input drift
    (embeddings), output drift (label mix, lengths), live quality against the eval report,
    staleness; write monitor.json and monitor.html and evaluate the `monitor.triggers`.

    Exit codes: 0 ok; 2 bad option or config; 3 unreadable request log; 7 registry problem;
    11 with --check when a trigger fired.
    """
    from tunewise.threads import prefer_passive_threads

    # Always, before anything imports torch: a monitor runs from cron beside other work, where
    # spinning threads burn the CPU the others need (MiniLM at load 11: 2.6 s a batch vs 1.0 s).
    prefer_passive_threads(always=True)
    from tunewise.config import load_config
    from tunewise.errors import ConfigError
    from tunewise.monitor.api import run_monitor
    from tunewise.monitor.report import summary_lines
    from tunewise.monitor.requests import JsonlRequests, parse_time

    if config is None and Path("tunewise.yaml").is_file():
        config = Path("tunewise.yaml")
    cfg = load_config(config, o.overrides(ctx))
    source: Any
    if requests is None:
        from tunewise.serve.logreader import StoreRequests
        from tunewise.store import display_url, get_engine, resolve_url

        url = resolve_url(db, cfg.registry.url)
        source, where = StoreRequests(get_engine(url)), f"the request log in {display_url(url)}"
    else:
        source, where = JsonlRequests(requests), str(requests)
    try:
        end = parse_time(until) if until else None
    except ValueError as exc:
        raise ConfigError(f"--until '{until}': {exc}") from None
    if export_review is not None:
        from tunewise.monitor.api import export_for_review

        done = export_for_review(
            feature, cfg, source, export_review, since=since, until=end, limit=review_limit
        )
        console.print(f"wrote {done['rows']} row(s) to review to {export_review} (of {done['with_text']} logged "
                      f"with their text; {done['prefilled']} already reviewed); fill `answer`, then "
                      f"tunewise retrain {feature} --reviewed {export_review}", markup=False)  # fmt: skip
        return
    err_console.print(f"monitoring {feature}: reading {where} ...")
    result = run_monitor(
        feature, cfg, source, since=since, until=end, out_dir=out,
        model=model, train=train, record=record, reviewed=reviewed,
    )  # fmt: skip
    for line in summary_lines(result.report):
        console.print(line, soft_wrap=True, markup=False)
    if result.event:
        console.print(f"registry event #{result.event['id']} ({result.event['kind']})")
    if result.webhook:
        status = result.webhook.get("error") or f"HTTP {result.webhook['status']}"
        console.print(f"webhook {result.webhook['url']}: {status}", markup=False)
    console.print(f"wrote {result.paths['json']} and {result.paths['html']}", markup=False)
    if check and result.fired:
        raise typer.Exit(TRIGGERED_EXIT)


def register(app: typer.Typer) -> None:
    """Add this stage's verb to the root app."""
    from tunewise.cli.retrain_cmd import retrain_cmd

    app.command("monitor")(monitor_cmd)
    app.command("retrain")(retrain_cmd)
