"""`tunewise config validate|schema`."""

from __future__ import annotations

from pathlib import Path

import typer

from tunewise.cli._console import console
from tunewise.config import config_json_schema, validate_config_file
from tunewise.errors import ConfigError


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(
        help="Check a tunewise.yaml or export its JSON Schema.", no_args_is_help=True
    )

    @config_app.command("validate")
    def validate(file: Path = typer.Argument(..., help="The tunewise.yaml to check.")) -> None:
        """Report every problem in a config file at once, each with its path."""
        problems = validate_config_file(file)
        if problems:
            for p in problems:
                console.print(f"[red]✗[/] {p}", markup=True)
            raise ConfigError(f"{file}: {len(problems)} problem(s)")
        console.print(f"[green]✓[/] {file} is valid", markup=True)

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
