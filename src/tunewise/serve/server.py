"""`serve(...)`: what `tunewise serve` runs: check the bind address against the keys, then uvicorn."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunewise.errors import ConfigError
from tunewise.serve.config import ServeConfig

log = logging.getLogger("tunewise.serve")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, keys: int) -> str | None:
    """Refuse to expose an unauthenticated server; return the notice to print, if any."""
    if keys:
        return None
    if not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without API keys: anyone who can reach it could use "
            "the models. Create a key first (`tunewise keys create NAME`), or bind 127.0.0.1"
        )
    return (
        f"no API keys exist: serving WITHOUT authentication, on {host} (loopback) only; "
        "`tunewise keys create NAME` turns authentication on"
    )


def load_project(path: Path | None, overrides: dict[str, Any] | None = None) -> Any:
    """The project config `tunewise serve` uses: `path`, else ./tunewise.yaml when present, else
    the defaults; with the command line's overrides."""
    from tunewise.config import load_config

    if path is None and Path("tunewise.yaml").is_file():
        path = Path("tunewise.yaml")
    return load_config(path, overrides)


def store_url(cfg: Any, explicit: str | None = None) -> str:
    """The database: --db, else TUNEWISE_DB_URL, else `registry.url` (a bare path is relative to
    the config file), else .tunewise/tunewise.db."""
    from tunewise.store import resolve_url

    url = cfg.registry.url
    if url and "://" not in url:
        url = str(cfg.resolve(url))
    return resolve_url(explicit, url)


def serve(
    config: ServeConfig,
    *,
    db_url: str | None,
    host: str | None = None,
    port: int | None = None,
    count_keys: Callable[[], int] = lambda: 0,
    pii: Any = None,
    rollout: Any = None,
    notice: Callable[[str], None] = print,
) -> None:
    """Run the gateway until interrupted."""
    import uvicorn

    from tunewise.serve.app import create_app

    config = config.model_copy(
        update={k: v for k, v in (("host", host), ("port", port)) if v is not None}
    )
    message = check_bind(config.host, count_keys())
    if message:
        notice(message)
    app = create_app(config, db_url=db_url, pii=pii, rollout=rollout)
    notice(
        f"tunewise serve: http://{config.host}:{config.port}/v1 (upstreams: {', '.join(config.upstreams) or 'none'})"
    )
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)
