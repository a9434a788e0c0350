"""`tunewise serve`, `tunewise flags`, `tunewise keys`: the gateway and the state it reads.

The database comes from --db, else TUNEWISE_DB_URL, else `registry.url` in the config (--config,
default ./tunewise.yaml when present), else .tunewise/tunewise.db: the one store every
`tunewise serve` replica shares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from tunewise.cli import options as o
from tunewise.cli._console import console, err_console

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

flags_app = typer.Typer(
    name="flags",
    no_args_is_help=True,
    help="Feature flags of the gateway: the canary's share of users and the kill switch.",
)
keys_app = typer.Typer(
    name="keys", no_args_is_help=True, help="API keys of the gateway (stored hashed)."
)


def _db_url(db: str | None, config: Path | None) -> str:
    from tunewise.serve.server import load_project, store_url

    return store_url(load_project(config), db)


def _sets(sets: list[str] | None) -> list[str]:
    return [arg for item in sets or [] for arg in ("--set", item)]


def _engine(db: str | None, config: Path | None) -> Any:
    from tunewise.store import get_engine

    return get_engine(_db_url(db, config))


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def _default_config() -> Path | None:
    return Path("tunewise.yaml") if Path("tunewise.yaml").is_file() else None


def register(app: typer.Typer) -> None:
    app.add_typer(flags_app)
    app.add_typer(keys_app)

    @app.command("serve")
    def serve_cmd(
        ctx: typer.Context,
        config: o.ConfigFile = None,
        sets: o.Sets = None,
        host: o.ServeHost = None,
        port: o.ServePort = None,
        db: str = DB,
        workers: int = typer.Option(
            0,
            "--workers",
            min=0,
            help="Also run `tunewise worker` training this many fine-tuning jobs at once "
            "(default 0: run workers yourself, on this machine or others sharing the store).",
        ),
    ) -> None:
        """Serve features, registered models and base models over OpenAI's chat API.

        `model` in a request is a feature (its production alias; its canary for the share of
        users `tunewise flags set` gives it), a registered model, `feature@alias`, or a base an
        upstream serves (`serve.upstreams` in tunewise.yaml). Without API keys the server binds
        loopback only. Call it with any OpenAI SDK:
        `OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="KEY")`. With the store it also serves
        OpenAI's files and fine-tuning jobs API (`serve.fine_tuning`); `--workers N` trains them.
        """
        from tunewise.serve.keys import count_live_keys
        from tunewise.serve.rollout.context import rollout_context
        from tunewise.serve.server import load_project, serve, store_url
        from tunewise.store import get_engine

        cfg = load_project(config, o.overrides(ctx))
        url = store_url(cfg, db)
        engine = get_engine(url)
        serve(
            cfg.serve,
            db_url=url,
            count_keys=lambda: count_live_keys(engine),
            pii=cfg.data.pii,
            rollout=rollout_context(cfg, config or _default_config()),
            notice=lambda m: err_console.print(m, soft_wrap=True, markup=False),
            workers=workers,
            worker_args=[*(["--config", str(config)] if config else []), *_sets(sets)],
        )


@flags_app.command("set")
def flags_set(
    feature: str = typer.Argument(
        ..., help="The feature (registry aliases FEATURE@production/@canary)."
    ),
    setting: str = typer.Argument(
        ..., help="canary=PERCENT (e.g. canary=10) or canary=off (kill switch)."
    ),
    reason: str = typer.Option(None, "--reason", help="Why (recorded with the change)."),
    by: str = typer.Option(None, "--by", help="Who (default: TUNEWISE_USER or USER)."),
    config: Path = CONFIG,
    db: str = DB,
) -> None:
    """Set a feature's canary share or flip its kill switch; every server follows within
    serve.flags_ttl_s (1 s by default), without a restart."""
    from tunewise.errors import ConfigError
    from tunewise.registry.catalog import current_user
    from tunewise.serve.flags import feature_aliases, parse_setting, set_flag, unknown_feature

    wanted, engine = parse_setting(setting), _engine(db, config)
    features, aliases = feature_aliases(engine, feature)
    if not aliases:  # a typo here must not look like a kill switch that worked
        raise ConfigError(unknown_feature(feature, features))
    flag = set_flag(engine, feature, wanted, by=current_user(by), reason=reason)
    if flag["killed"]:
        console.print(f"{feature}: canary OFF (kill switch): every user is served by control")
    else:
        console.print(f"{feature}: canary serves {flag['canary_percent']:g}% of users")
        if flag["canary_percent"] > 0 and not aliases.get("canary"):
            err_console.print(
                f"note: {feature}@canary holds no model, so control serves everyone until one "
                f"is promoted: tunewise registry promote MODEL --feature {feature} --alias canary"
            )


@flags_app.command("list")
def flags_list(config: Path = CONFIG, db: str = DB, as_json: bool = JSON) -> None:
    """Every feature's flag."""
    from tunewise.serve.flags import list_flags

    rows = list_flags(_engine(db, config))
    if as_json:
        _print_json(rows)
        return
    if not rows:
        console.print("no flags set (every feature's canary share is 0%)")
    for r in rows:
        state = "OFF (killed)" if r["killed"] else f"{r['canary_percent']:g}%"
        console.print(f"{r['feature']}: canary {state}  (by {r['updated_by']}, {r['updated_at']})")


@flags_app.command("history")
def flags_history(feature: str, config: Path = CONFIG, db: str = DB) -> None:
    """Every change of a feature's flag, oldest first."""
    from tunewise.serve.flags import flag_history

    _print_json(flag_history(_engine(db, config), feature))


@keys_app.command("create")
def keys_create(
    name: str = typer.Argument(..., help="Who or what uses the key."),
    admin: bool = typer.Option(False, "--admin", help="May also change flags and rollouts."),
    by: str = typer.Option(None, "--by", help="Who creates it (default: TUNEWISE_USER or USER)."),
    config: Path = CONFIG,
    db: str = DB,
) -> None:
    """Create a key; it is printed once (only its hash is stored)."""
    from tunewise.registry.catalog import current_user
    from tunewise.serve.keys import create_key

    key, info = create_key(_engine(db, config), name, admin=admin, by=current_user(by))
    err_console.print(
        f"created {'admin ' if admin else ''}key {info['id']} for '{name}'; it is shown only now:"
    )
    sys.stdout.write(key + "\n")


@keys_app.command("list")
def keys_list(
    revoked: bool = typer.Option(False, "--revoked", help="Include revoked keys."),
    config: Path = CONFIG,
    db: str = DB,
    as_json: bool = JSON,
) -> None:
    """Keys by id, name and prefix (never the key)."""
    from tunewise.serve.keys import list_keys

    rows = list_keys(_engine(db, config), include_revoked=revoked)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        console.print("no API keys: `tunewise serve` runs without authentication, on loopback only")
    for r in rows:
        tags = " admin" if r["admin"] else ""
        tags += f" REVOKED {r['revoked_at']}" if r["revoked_at"] else ""
        console.print(
            f"{r['id']}  {r['prefix']}  {r['name']}{tags}  (created {r['created_at']} by {r['created_by']})"
        )


@keys_app.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., help="The key's id (see `tunewise keys list`)."),
    config: Path = CONFIG,
    db: str = DB,
) -> None:
    """Revoke a key; servers refuse it within serve.flags_ttl_s."""
    from tunewise.serve.keys import revoke_key

    info = revoke_key(_engine(db, config), key_id)
    console.print(f"revoked {info['id']} ({info['name']})")
