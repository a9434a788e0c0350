"""`tunewise db info`: the one tunewise database (registry, jobs, ...) at a glance."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tunewise.cli._console import console

db_app = typer.Typer(
    help="The tunewise database: where it is and what it holds.", no_args_is_help=True
)


@db_app.command("info")
def info(
    db: str = typer.Option(
        None,
        "--db",
        help="Database URL; default TUNEWISE_DB_URL, else registry.url, else .tunewise/tunewise.db.",
    ),
    config: Path = typer.Option(
        None, "--config", "-c", help="tunewise.yaml whose registry.url names the database."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The database URL (password hidden), schema revision and the rows in each table."""
    from rich.table import Table

    from tunewise.store.info import describe

    config_url = None
    if config is not None:
        from tunewise.config import load_config

        cfg = load_config(config)
        config_url = cfg.registry.url
        if config_url and "://" not in config_url:  # a bare SQLite path is relative to the file
            config_url = str(cfg.resolve(config_url))
    facts = describe(db, config_url)
    if as_json:
        console.print_json(json.dumps(facts))
        return
    state = "up to date" if facts["revision"] == facts["head"] else f"head is {facts['head']}"
    console.print(
        f"{facts['url']} ({facts['dialect']}), schema revision {facts['revision']} ({state})",
        markup=False,
    )
    table = Table("table", "rows")
    for name, count in facts["tables"].items():
        table.add_row(name, str(count))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `tunewise db` to the root app."""
    app.add_typer(db_app, name="db")
