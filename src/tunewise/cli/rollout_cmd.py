"""`tunewise rollout ...` and `tunewise checklist`: canary rollouts judged on live traffic.

The database comes from --db, else TUNEWISE_DB_URL, else `registry.url` in the config (--config,
default ./tunewise.yaml when present): the store every `tunewise serve` replica reads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from tunewise.cli import options as o
from tunewise.cli._console import console

CONFIG = typer.Option(
    None, "--config", "-c", help="tunewise.yaml (default: ./tunewise.yaml if present)."
)
DB = typer.Option(
    None,
    "--db",
    help="Database URL (sqlite:///path.db or postgresql+psycopg://...); default TUNEWISE_DB_URL, "
    "else registry.url, else .tunewise/tunewise.db.",
)
JSON = typer.Option(False, "--json", help="Print JSON.")
BY = typer.Option(None, "--by", help="Who acts (default: TUNEWISE_USER or USER).")
REASON = typer.Option(None, "--reason", help="Why (recorded with the decision).")
FEATURE = typer.Argument(..., help="The feature (registry aliases FEATURE@production/@canary).")

rollout_app = typer.Typer(
    name="rollout",
    no_args_is_help=True,
    help="Canary rollouts: ramp a model through shares of users, judged against control on live "
    "traffic with anytime-valid statistics; roll back on harm, promote when every step passes.",
)


def _setup(ctx: typer.Context, config: Path | None, db: str | None) -> tuple[Any, Any]:
    """(engine, RolloutContext) from the options: the config file (default ./tunewise.yaml when
    present) with `--set` and the rollout options applied, and the database."""
    from tunewise.cli import options as o
    from tunewise.config import load_config
    from tunewise.serve.rollout.context import rollout_context
    from tunewise.store import get_engine, resolve_url

    path = config or (Path("tunewise.yaml") if Path("tunewise.yaml").is_file() else None)
    overrides = o.overrides(ctx)
    project = load_config(path, overrides) if path or overrides else None
    config_url = project.registry.url if project else None
    if project and config_url and "://" not in config_url:
        config_url = str(project.resolve(config_url))
    engine = get_engine(resolve_url(db, config_url))
    return engine, rollout_context(project, path)


def _who(by: str | None) -> str:
    from tunewise.registry.catalog import current_user

    return current_user(by)


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


@rollout_app.command("start")
def start_cmd(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="The candidate: a registered model name or folder."),
    feature: str = typer.Option(..., "--feature", "-f", help="The feature to roll it out on."),
    steps: o.RolloutSteps = None,
    interval: o.RolloutInterval = None,
    min_requests: o.RolloutMinRequests = None,
    shadow: float = typer.Option(
        0.0,
        "--shadow",
        help="First mirror this percent of control's requests to the candidate (users see control only).",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Start although checklist items are missing (needs --reason; recorded).",
    ),
    reason: str = REASON,
    by: str = BY,
    config: Path = CONFIG,
    sets: o.Sets = None,
    db: str = DB,
    as_json: bool = JSON,
) -> None:
    """Start a canary rollout of MODEL on --feature.

    The pre-deploy checklist must be complete (`tunewise checklist FEATURE MODEL`) and MODEL
    must hold a passing gate against FEATURE@production. MODEL goes to FEATURE@canary; each
    step sets the share of users it serves, and the controller (inside `tunewise serve`, or
    `tunewise rollout tick`) judges it against control: error rate, p95 latency, the
    reference-free scores and user feedback. Harm rolls back at once; after the 100% step the
    model is promoted to FEATURE@production through the registry's gate.
    """
    from tunewise.serve.rollout.api import launch

    engine, rctx = _setup(ctx, config, db)
    out = launch(
        engine, model, feature, rctx, shadow=shadow, force=force, reason=reason, by=_who(by)
    )
    if as_json:
        _print_json(out)
        return
    steps_text = ", ".join(f"{p:g}%" for p in out["steps"])
    console.print(f"rollout #{out['id']}: {out['model']} on {feature} against {out['control']}; "
                  f"{out['stage']} now (steps {steps_text}); watch it with "
                  f"`tunewise rollout status {feature}` or /ui", soft_wrap=True, markup=False)  # fmt: skip


@rollout_app.command("status")
def status_cmd(
    ctx: typer.Context, feature: str = FEATURE, config: Path = CONFIG, sets: o.Sets = None,
    db: str = DB, as_json: bool = JSON,
) -> None:  # fmt: skip
    """The feature's latest rollout: stage, per-arm figures, each metric's verdict, decisions."""
    from tunewise.cli.rollout_view import print_status
    from tunewise.serve.rollout.api import rollout_status

    engine, _ = _setup(ctx, config, db)
    out = rollout_status(engine, feature)
    if as_json:
        _print_json(out)
    else:
        print_status(out)


def _act(ctx: typer.Context, name: str, feature: str, reason: str | None, by: str | None,
         config: Path | None, db: str | None, as_json: bool) -> None:  # fmt: skip
    from tunewise.serve.rollout import api

    fn = {"pause": api.pause_rollout, "resume": api.resume_rollout, "abort": api.abort_rollout}[
        name
    ]
    engine, _ = _setup(ctx, config, db)
    out = fn(engine, feature, reason=reason, by=_who(by))
    if as_json:
        _print_json(out)
    else:
        console.print(
            f"rollout #{out['id']} on {feature}: {out['state']} ({out['stage']})", markup=False
        )


@rollout_app.command("pause")
def pause_cmd(ctx: typer.Context, feature: str = FEATURE, reason: str = REASON, by: str = BY, config: Path = CONFIG,
              db: str = DB, as_json: bool = JSON) -> None:  # fmt: skip
    """Stop the controller's decisions; the canary keeps its current share."""
    _act(ctx, "pause", feature, reason, by, config, db, as_json)


@rollout_app.command("resume")
def resume_cmd(ctx: typer.Context, feature: str = FEATURE, reason: str = REASON, by: str = BY, config: Path = CONFIG,
               db: str = DB, as_json: bool = JSON) -> None:  # fmt: skip
    """Resume a paused rollout: its current step starts over, with fresh data, at its share."""
    _act(ctx, "resume", feature, reason, by, config, db, as_json)


@rollout_app.command("abort")
def abort_cmd(ctx: typer.Context, feature: str = FEATURE, reason: str = REASON, by: str = BY, config: Path = CONFIG,
              db: str = DB, as_json: bool = JSON) -> None:  # fmt: skip
    """Roll back now: the canary's share drops to 0 on every server (within serve.flags_ttl_s)."""
    _act(ctx, "abort", feature, reason, by, config, db, as_json)


@rollout_app.command("tick")
def tick_cmd(
    ctx: typer.Context,
    features: list[str] = typer.Argument(
        None, help="Features to look at (default: every live rollout)."
    ),
    config: Path = CONFIG,
    sets: o.Sets = None,
    db: str = DB,
    as_json: bool = JSON,
) -> None:
    """Look at live rollouts once and act (for cron, or with `rollout.controller: false`).

    It takes each feature's lease like a server does: a feature whose lease a running
    `tunewise serve` holds is left to that server."""
    from tunewise.serve.rollout.controller import live_features, tick
    from tunewise.serve.rollout.lease import new_holder, release

    engine, _ = _setup(ctx, config, db)
    names = features or sorted({r.feature for r in live_features(engine)})
    holder = new_holder()
    results = []
    for feature in names:
        result = tick(engine, feature, holder)
        if result.outcome not in {"lease_held", "idle"}:
            release(engine, feature, holder)  # a cron run should not keep servers waiting
        results.append(result.__dict__)
    if as_json:
        _print_json(results)
        return
    if not results:
        console.print("no live rollout", markup=False)
    for r in results:
        console.print(f"{r['feature']}: {r['outcome']}" + (f" ({r['detail']})" if r["detail"] else ""),
                      soft_wrap=True, markup=False)  # fmt: skip


@rollout_app.command("list")
def list_cmd(ctx: typer.Context, config: Path = CONFIG, db: str = DB, as_json: bool = JSON) -> None:
    """Recent rollouts of every feature."""
    from tunewise.serve.rollout.api import list_rollouts

    engine, _ = _setup(ctx, config, db)
    rows = list_rollouts(engine)
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        console.print(f"#{r['id']} {r['feature']}: {r['model']} vs {r['control']} {r['state']} "
                      f"({r['stage']}) {r['outcome'] or ''}", soft_wrap=True, markup=False)  # fmt: skip


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app)

    @app.command("checklist")
    def checklist_cmd(
        ctx: typer.Context,
        feature: str = FEATURE,
        model: str = typer.Argument(None, help="The candidate (default: FEATURE@canary's holder)."),
        record: list[str] = typer.Option(
            None,
            "--record",
            help="Record an item: ITEM=VALUE (owner, cost, retrain_trigger, decision_record=FILE, ...).",
        ),
        by: str = BY,
        config: Path = CONFIG,
        sets: o.Sets = None,
        db: str = DB,
        as_json: bool = JSON,
    ) -> None:
        """The pre-deploy checklist of a rollout: each item found (and where) or missing (and
        the command that fills it). `tunewise rollout start` refuses while one is missing."""
        from tunewise.cli.rollout_view import print_checklist
        from tunewise.errors import ConfigError
        from tunewise.serve.rollout.checklist import missing_items, record_item, run_checklist

        engine, rctx = _setup(ctx, config, db)
        for entry in record or []:
            item, sep, value = entry.partition("=")
            if not sep:
                raise ConfigError(
                    f"--record {entry!r}: use ITEM=VALUE, e.g. --record owner=ana@example.com"
                )
            record_item(engine, feature, item.strip(), value.strip(), by=_who(by))
        items = run_checklist(engine, feature, model, project=rctx.project,
                              project_source=rctx.source, golden_sha256=rctx.golden_sha256())  # fmt: skip
        if as_json:
            _print_json({"feature": feature, "model": model, "ready": not missing_items(items),
                         "items": [i.as_dict() for i in items]})  # fmt: skip
        else:
            print_checklist(feature, items)
        if missing_items(items):
            raise typer.Exit(1)
