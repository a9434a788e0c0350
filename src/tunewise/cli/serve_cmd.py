"""`tunewise serve`: the OpenAI-compatible gateway (see tunewise.serve)."""

from __future__ import annotations

from pathlib import Path

import typer

from tunewise.cli._console import err_console


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        config: Path = typer.Option(
            None,
            "--config",
            "-c",
            help="tunewise.yaml with a serve: section (default: ./tunewise.yaml if present).",
        ),
        host: str = typer.Option(
            None, "--host", help="Interface to bind (default serve.host, 127.0.0.1)."
        ),
        port: int = typer.Option(None, "--port", help="TCP port (default serve.port, 8000)."),
        db: str = typer.Option(
            None,
            "--db",
            help="Store URL (default TUNEWISE_DB_URL, then the config, then .tunewise/).",
        ),
    ) -> None:
        """Serve features, registered models and base models over OpenAI's chat API.

        `model` in a request is a feature (its production alias, or its canary for the users the
        flag's share puts there), a registered model, `feature@alias`, or a base an upstream
        serves. Without API keys the server binds loopback only. Call it with any OpenAI SDK:
        `OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="KEY")`.
        """
        from tunewise.serve.server import load_serve_config, serve

        cfg, config_url, _ = load_serve_config(config)
        serve(
            cfg,
            db_url=_db_url(db, config_url),
            host=host,
            port=port,
            notice=lambda m: err_console.print(m, soft_wrap=True, markup=False),
        )


def _db_url(explicit: str | None, config_url: str | None) -> str:
    from tunewise.registry.db import resolve_url

    return resolve_url(explicit, config_url)
