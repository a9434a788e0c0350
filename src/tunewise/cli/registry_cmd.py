"""`tunewise registry ...`: thin verbs over `tunewise.registry.Registry`.

The registry lives in the one tunewise database: --db URL, else TUNEWISE_DB_URL (or its older
alias TUNEWISE_REGISTRY_URL), else `registry.url` in the config (--config, default
./tunewise.yaml when present), else .tunewise/tunewise.db.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from tunewise.cli import options as o
from tunewise.cli._console import console, err_console

registry_app = typer.Typer(
    name="registry",
    no_args_is_help=True,
    help="Model registry: lineage, eval-gated promotion per feature alias, one-step rollback, routes.",
)

ALIAS = typer.Option(
    "production", "--alias", "-a", help="Alias name (production, canary, staging, any)."
)
BY = typer.Option(None, "--by", help="Who acts (default: TUNEWISE_USER or USER).")
JSON = typer.Option(False, "--json", help="Print JSON instead of a table/tree.")


@registry_app.callback()
def _options(
    ctx: typer.Context,
    url: o.DbUrl = None,
    config: Path = typer.Option(
        None, "--config", "-c", help="tunewise.yaml (default: ./tunewise.yaml if present)."
    ),
    sets: o.Sets = None,
) -> None:
    """Model registry commands."""
    ctx.obj = {"config": config}


def _settings(ctx: typer.Context) -> dict[str, Any]:
    """The registry: section of the config with the options (--db, --golden, --days, --set)."""
    from tunewise.config import load_config

    path = ctx.obj.get("config") or (
        Path("tunewise.yaml") if Path("tunewise.yaml").is_file() else None
    )
    overrides = o.overrides(ctx)
    project = load_config(path, overrides)
    cfg = project.registry
    golden = str(project.resolve(cfg.golden)) if cfg.golden else None
    url = cfg.url
    if url and "://" not in url:  # a bare SQLite path is relative to the config file
        url = str(project.resolve(url))
    # --db is an explicit choice: it beats TUNEWISE_DB_URL, which beats the file's registry.url.
    explicit = overrides.get("registry.url")
    return {"url": explicit, "config_url": url, "golden": golden, "stale_days": cfg.stale_days}


def _open(ctx: typer.Context) -> Any:
    from tunewise.registry import Registry

    s = _settings(ctx)
    return Registry(s["url"], config_url=s["config_url"], golden=s["golden"])


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


@registry_app.command("list")
def list_cmd(
    ctx: typer.Context,
    datasets: bool = typer.Option(
        False, "--datasets", help="List dataset versions instead of models."
    ),
    as_json: bool = JSON,
) -> None:
    """List models (aliases, stale flag, deprecation) or dataset versions."""
    from rich.table import Column, Table

    with _open(ctx) as reg:
        rows = (
            reg.list_datasets()
            if datasets
            else reg.list_models(stale_days=_settings(ctx)["stale_days"])
        )
    if as_json:
        _print_json(rows)
        return
    if datasets:
        table = Table("semver", "manifest sha256", "location", "registered")
        for d in rows:
            table.add_row(
                d["semver"] or "", d["manifest_sha256"][:12], d["location"], d["registered_at"][:19]
            )
    else:
        # The model column never shrinks: its names are what `promote` takes.
        table = Table(Column("model", no_wrap=True), "kind", Column("base", overflow="fold"),
                      "aliases", "registered", "flags")  # fmt: skip
        for m in rows:
            flags = ", ".join(
                f for f, on in (("deprecated", m["deprecated"]), ("stale", m["stale"])) if on
            )
            table.add_row(
                m["model"],
                m["kind"],
                m["base"]["id"],
                ", ".join(m["aliases"]),
                m["registered_at"][:19],
                flags,
            )
    console.print(table)


def _tree(info: dict[str, Any]) -> Any:
    from rich.markup import escape
    from rich.tree import Tree

    ds, job, m = info["dataset"], info["job"], info["model"]
    if ds is None:
        root = Tree("dataset: [dim]none recorded[/]")
    elif ds.get("registered") is False:
        root = Tree(f"dataset [bold]{ds['manifest_sha256'][:12]}[/] [dim](not registered)[/]")
    else:
        root = Tree(
            f"dataset [bold]{escape(ds['semver'] or '?')}[/] {ds['manifest_sha256'][:12]} at {escape(ds['location'])}"
        )
    node = root.add(
        f"job {job['backend']} {escape(job['local_job_id'] or job['provider_job_id'] or '')} ({job['status'] or 'status unknown'})"
        if job
        else "job: [dim]none recorded[/]"
    )
    where = m["adapter_path"] or m["provider_model_id"]
    flag = " [red](deprecated)[/]" if m["deprecated"] else ""
    model = node.add(
        f"model [bold]{escape(m['model'])}[/] ({m['kind']}){flag} on {escape(m['base']['id'])}: {escape(str(where))}"
    )
    evals = model.add("evals" if info["evals"] else "evals: [dim]none[/]")
    for e in info["evals"]:
        metrics = ", ".join(f"{k}={v}" for k, v in sorted(e["metrics"].items()))
        evals.add(
            f"#{e['id']} {escape(e['variant'])} golden {e['golden_sha256'][:12]}: {escape(metrics)}"
        )
    gates = model.add("gates" if info["gates"] else "gates: [dim]none[/]")
    for g in info["gates"]:
        color = "green" if g["decision"] == "pass" else "red"
        gates.add(
            f"#{g['id']} [{color}]{g['decision']}[/] vs {escape(g['reference'])} golden {g['golden_sha256'][:12]} ({g['recorded_at'][:19]})"
        )
    if info.get("events"):
        recorded = model.add("events")
        for e in info["events"]:
            detail = e["detail"]
            text = detail.get("reason") or detail.get("stage") or ""
            recorded.add(f"{e['recorded_at'][:19]} {escape(e['kind'])}: {escape(str(text))}")
    events = model.add("aliases" if info["alias_events"] else "aliases: [dim]never promoted[/]")
    for e in info["alias_events"]:
        why = f": {escape(e['reason'])}" if e["reason"] else ""
        forced = " [yellow]forced[/]" if e["forced"] else ""
        events.add(
            f"{e['feature']}@{e['alias']} {e['action']} {escape(e['previous'] or '(empty)')} -> {escape(str(e['model']))}{forced} by {escape(e['by'])} {e['at'][:19]}{why}"
        )
    return root


@registry_app.command("show")
def show_cmd(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model name, provider id, folder, or feature@alias."),
    as_json: bool = JSON,
    verify: bool = typer.Option(
        True, "--verify/--no-verify", help="Re-hash the adapter and dataset."
    ),
) -> None:
    """One model with its lineage (artifact hashes re-checked)."""
    lineage_cmd(ctx, model, as_json, verify)


@registry_app.command("lineage")
def lineage_cmd(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model name, provider id, folder, or feature@alias."),
    as_json: bool = JSON,
    verify: bool = typer.Option(
        True, "--verify/--no-verify", help="Re-hash the adapter and dataset."
    ),
) -> None:
    """The whole chain: dataset -> job -> model -> evals -> gates -> events (rollout steps) -> aliases."""
    with _open(ctx) as reg:
        info = reg.lineage(model, verify=verify)
    if as_json:
        _print_json(info)
    else:
        console.print(_tree(info))


@registry_app.command("register-dataset")
def register_dataset_cmd(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Dataset version folder or its manifest.json."),
    by: str = BY,
) -> None:
    """Register a dataset version (made by `tunewise data prepare`)."""
    with _open(ctx) as reg:
        ds = reg.register_dataset(path, by=by)
    console.print(
        f"dataset {ds.semver or '?'} {ds.manifest_sha256[:12]} registered ({ds.location})"
    )


@registry_app.command("register-job")
def register_job_cmd(
    ctx: typer.Context,
    backend: str = typer.Option(..., "--backend", help="local, openai, bedrock, ..."),
    local_id: str = typer.Option(None, "--local-id", help="tunewise job id."),
    provider_id: str = typer.Option(
        None, "--provider-id", help="The provider's job id (ftjob-..., ARN)."
    ),
    dataset: str = typer.Option(
        None, "--dataset", help="Dataset folder or manifest sha256 (prefix)."
    ),
    status: str = typer.Option(None, "--status"),
    by: str = BY,
) -> None:
    """Register a training job on any backend."""
    with _open(ctx) as reg:
        job = reg.register_job(
            backend,
            local_job_id=local_id,
            provider_job_id=provider_id,
            dataset=dataset,
            status=status,
            by=by,
        )
    console.print(f"job {job.backend} {job.local_job_id or job.provider_job_id} registered")


@registry_app.command("register-model")
def register_model_cmd(
    ctx: typer.Context,
    adapter: Path = typer.Argument(None, help="Adapter (or full model) folder with manifest.json."),
    provider_model: str = typer.Option(
        None, "--provider-model", help="A provider model id such as ft:gpt-4o-mini:org::abc."
    ),
    name: str = typer.Option(
        None, "--name", help="Registry name (default: folder name or provider id)."
    ),
    base: str = typer.Option(None, "--base", help="Base model id (provider models)."),
    base_hash: str = typer.Option(None, "--base-hash"),
    dataset: str = typer.Option(
        None, "--dataset", help="Dataset folder or manifest sha256 (prefix)."
    ),
    job: str = typer.Option(None, "--job", help="Provider job id (provider models)."),
    by: str = BY,
) -> None:
    """Register a model: an adapter folder (its manifest names base, dataset, job) or a provider model."""
    if adapter is None and provider_model is None:
        from tunewise.errors import ConfigError

        raise ConfigError("give an adapter folder or --provider-model ID")
    with _open(ctx) as reg:
        m = reg.register_model(
            adapter,
            provider_model_id=provider_model,
            name=name,
            base=base,
            base_hash=base_hash,
            dataset=dataset,
            job=job,
            by=by,
        )
    console.print(f"model [bold]{m.name}[/] registered ({m.kind} on {m.base_id})")


@registry_app.command("record-eval")
def record_eval_cmd(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="The evaluated model."),
    report: Path = typer.Argument(None, help="Eval report.json (`tunewise eval` output)."),
    side: str = typer.Option("candidate", "--side", help="Report side to read: candidate or base."),
    golden_sha256: str = typer.Option(None, "--golden-sha256"),
    variant: str = typer.Option(None, "--variant"),
    metrics: str = typer.Option(
        None, "--metrics", help="Metrics as JSON, e.g. '{\"accuracy\": 0.91}'."
    ),
    by: str = BY,
) -> None:
    """Record an eval of a model on a golden set (a re-evaluation clears the stale flag)."""
    from tunewise.errors import ConfigError

    try:
        values = json.loads(metrics) if metrics else None
    except ValueError as exc:
        raise ConfigError(f"--metrics: not JSON ({exc})") from exc
    with _open(ctx) as reg:
        e = reg.record_eval(
            model,
            report,
            golden_sha256=golden_sha256,
            variant=variant,
            metrics=values,
            side=side,
            by=by,
        )
    console.print(f"eval #{e.id} recorded for {model}")


@registry_app.command("record-gate")
def record_gate_cmd(
    ctx: typer.Context,
    report: Path = typer.Argument(
        ...,
        help="Gate result or eval report.json (decision, candidate, baseline, golden_sha256, rules).",
    ),
    feature: str = typer.Option(None, "--feature", "-f", help="The feature the gate was run for."),
    candidate: str = typer.Option(None, "--candidate", help="Override the report's candidate."),
    baseline: str = typer.Option(None, "--baseline", help="Override the report's baseline."),
    by: str = BY,
) -> None:
    """Record a release-gate decision; promotion needs a passing one."""
    with _open(ctx) as reg:
        g = reg.record_gate(report, candidate=candidate, baseline=baseline, feature=feature, by=by)
    verdict = "[green]pass[/]" if g.passed else "[red]block[/]"
    console.print(
        f"gate #{g.id} recorded: {verdict} vs {g.reference} (golden {g.golden_sha256[:12]})"
    )


@registry_app.command("promote")
def promote_cmd(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="The model to promote."),
    feature: str = typer.Option(
        ..., "--feature", "-f", help="Feature (use case) the alias belongs to."
    ),
    alias: str = ALIAS,
    reason: str = typer.Option(
        None, "--reason", "-r", help="Why (required with --force; recorded)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Promote without a passing gate (needs --reason)."
    ),
    golden: o.RegistryGolden = None,
    by: str = BY,
) -> None:
    """Point FEATURE@ALIAS at MODEL; refused unless a passing gate against the current holder
    (or the base, when empty) on the current golden set is recorded."""
    with _open(ctx) as reg:
        e = reg.promote(model, feature, alias, reason=reason, by=by, force=force)
    forced = " [yellow](forced)[/]" if e["forced"] else ""
    console.print(
        f"{feature}@{alias}: {e['previous'] or '(empty)'} -> [bold]{e['model']}[/]{forced}"
    )


@registry_app.command("rollback")
def rollback_cmd(
    ctx: typer.Context,
    feature: str = typer.Argument(..., help="Feature whose alias goes back one step."),
    alias: str = ALIAS,
    reason: str = typer.Option(None, "--reason", "-r"),
    by: str = BY,
) -> None:
    """Give FEATURE@ALIAS back to its previous holder, in one step."""
    with _open(ctx) as reg:
        e = reg.rollback(feature, alias, reason=reason, by=by)
    console.print(f"{feature}@{alias}: {e['previous']} -> [bold]{e['model']}[/] (rolled back)")


@registry_app.command("history")
def history_cmd(
    ctx: typer.Context, feature: str = typer.Argument(...), alias: str = ALIAS, as_json: bool = JSON
) -> None:
    """Every change of FEATURE@ALIAS: who, when, why."""
    from rich.table import Table

    with _open(ctx) as reg:
        rows = reg.history(feature, alias)
    if as_json:
        _print_json(rows)
        return
    table = Table("#", "when", "action", "from", "to", "by", "reason")
    for e in rows:
        action = e["action"] + (" (forced)" if e["forced"] else "")
        table.add_row(
            str(e["id"]),
            e["at"][:19],
            action,
            e["previous"] or "",
            e["model"] or "",
            e["by"],
            e["reason"] or "",
        )
    console.print(table)


@registry_app.command("deprecate")
def deprecate_cmd(
    ctx: typer.Context,
    model: str = typer.Argument(...),
    reason: str = typer.Option(None, "--reason", "-r"),
    by: str = BY,
) -> None:
    """Mark MODEL deprecated (never promoted again); refused while an alias serves it."""
    with _open(ctx) as reg:
        m = reg.deprecate(model, reason=reason, by=by)
    console.print(f"model {m.name} deprecated")


@registry_app.command("stale")
def stale_cmd(
    ctx: typer.Context,
    days: o.StaleDays = None,
    as_json: bool = JSON,
) -> None:
    """Models not re-evaluated for DAYS days; exit code 1 when any is stale."""
    with _open(ctx) as reg:
        rows = reg.stale(_settings(ctx)["stale_days"])
    if as_json:
        _print_json(rows)
    elif rows:
        for r in rows:
            console.print(
                f"[yellow]stale[/] {r['model']}: last evaluated {r['last_evaluated'] or 'never'} ({r['days']} days ago)"
            )
    else:
        err_console.print("no stale models")
    if rows:
        raise typer.Exit(1)


@registry_app.command("routes")
def routes_cmd(
    ctx: typer.Context,
    out: Path = typer.Option(None, "--out", "-o", help="Write the JSON here (default: stdout)."),
) -> None:
    """Export the routing table (feature@alias -> model and serving location) for the gateway."""
    from tunewise.artifacts import atomic_write_json

    with _open(ctx) as reg:
        table = reg.routing_table()
    if out is None:
        _print_json(table)
    else:
        atomic_write_json(out, table)
        err_console.print(f"{len(table['routes'])} route(s) written to {out}")


def register(app: typer.Typer) -> None:
    """Add this stage's verbs to the root app."""
    app.add_typer(registry_app, name="registry")
