"""`tunewise config validate|schema`."""

from __future__ import annotations

from pathlib import Path

import typer

from tunewise.cli import options as o
from tunewise.cli._console import console
from tunewise.config import config_json_schema, validate_config_file
from tunewise.errors import ConfigError


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(
        help="Check a tunewise.yaml or export its JSON Schema.", no_args_is_help=True
    )

    @config_app.command("validate")
    def validate(
        ctx: typer.Context,
        file: Path = typer.Argument(..., help="The tunewise.yaml to check."),
        sets: o.Sets = None,
    ) -> None:
        """Report every problem in a config file (with any --set on top) at once, each with its path."""
        problems = validate_config_file(file, o.overrides(ctx))
        if problems:
            for p in problems:
                console.print(f"[red]✗[/] {p}", markup=True)
            raise ConfigError(f"{file}: {len(problems)} problem(s)")
        console.print(f"[green]✓[/] {file} is valid", markup=True)

    @config_app.command("show")
    def show(
        ctx: typer.Context,
        file: Path | None = typer.Argument(None, help="The tunewise.yaml (default: the defaults)."),
        sets: o.Sets = None,
    ) -> None:
        """Print the config a command would use: the file with --set applied, every key, as YAML."""
        import yaml

        from tunewise.config import load_config

        cfg = load_config(file, o.overrides(ctx))
        typer.echo(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), nl=False)

    @config_app.command("schema")
    def schema(
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Write to this file instead of stdout."
        ),
    ) -> None:
        """Print the JSON Schema of tunewise.yaml (point your editor's YAML plugin at it)."""
        text = config_json_schema()
        if out:
            from tunewise.artifacts import atomic_write_text

            atomic_write_text(out, text)
            console.print(f"wrote {out}")
        else:
            typer.echo(text, nl=False)

    app.add_typer(config_app, name="config")
