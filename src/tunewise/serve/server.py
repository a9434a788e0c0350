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


def load_serve_config(path: Path | None) -> tuple[ServeConfig, str | None, Path]:
    """(serve section, store URL from the config, folder relative paths resolve against)."""
    if path is None:
        default = Path("tunewise.yaml")
        path = default if default.is_file() else None
    if path is None:
        return ServeConfig(), None, Path.cwd()
    from tunewise.config import load_config

    cfg = load_config(path)
    url = cfg.registry.url
    if url and "://" not in url:
        url = str(cfg.resolve(url))
    return cfg.serve, url, path.resolve().parent


def serve(
    config: ServeConfig,
    *,
    db_url: str | None,
    host: str | None = None,
    port: int | None = None,
    count_keys: Callable[[], int] = lambda: 0,
    pii: Any = None,
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
    app = create_app(config, db_url=db_url, pii=pii)
    notice(
        f"tunewise serve: http://{config.host}:{config.port}/v1 (upstreams: {', '.join(config.upstreams) or 'none'})"
    )
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)
