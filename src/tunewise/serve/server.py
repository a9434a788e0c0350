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
    cfg = load_config(path, overrides)
    ft = cfg.serve.fine_tuning
    if ft.dir:  # relative to the config file, for the server and its workers alike
        cfg.serve.fine_tuning = ft.model_copy(update={"dir": str(cfg.resolve(ft.dir))})
    return cfg


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
    workers: int = 0,
    worker_args: list[str] | None = None,
) -> None:
    """Run the gateway until interrupted; with `workers`, a `tunewise worker` training that many
    fine-tuning jobs at once runs beside it (and stops with it, requeueing what it trains)."""
    import uvicorn

    from tunewise.serve.app import create_app

    config = config.model_copy(
        update={k: v for k, v in (("host", host), ("port", port)) if v is not None}
    )
    message = check_bind(config.host, count_keys())
    if message:
        notice(message)
    app = create_app(config, db_url=db_url, pii=pii, rollout=rollout)
    upstreams = ", ".join(config.upstreams) or "none"
    notice(f"tunewise serve: starting upstreams ({upstreams}) ...")
    app.state.on_ready = lambda: notice(
        f"tunewise serve: http://{config.host}:{config.port}/v1 (upstreams: {upstreams})"
    )
    worker = (
        start_worker(db_url, workers, worker_args or [], notice) if workers and db_url else None
    )
    if worker is not None:
        exit_on_sigterm()
    failure = _StartupFailure()
    logging.getLogger("uvicorn.error").addFilter(failure)
    try:
        uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)
    finally:
        logging.getLogger("uvicorn.error").removeFilter(failure)
        if worker is not None:
            stop_worker(worker, notice)


class _StartupFailure(logging.Filter):
    """A tunewise error while the upstreams start (a bad base, an adapter on another base) is a
    user's error: uvicorn would print the whole traceback; keep the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage().rstrip()
        if text.startswith("Traceback") and "\ntunewise.errors." in text:
            last = text.rsplit("\ntunewise.errors.", 1)[1]
            if "\n  File " not in last:  # the final exception is ours, not a bug after it
                record.msg, record.args = last.partition(": ")[2], ()
        return True


def exit_on_sigterm() -> None:
    """SIGTERM as SystemExit. uvicorn stops on SIGTERM, then raises it again once it is done;
    with the default action that kills this process before its `finally` stops the worker, which
    then outlives the server."""
    import signal
    import threading

    def _exit(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit)


def start_worker(
    db_url: str, concurrency: int, args: list[str], notice: Callable[[str], None]
) -> Any:
    """`tunewise worker` as a process of its own (training never runs in the web process), with
    the server's `--config` and `--set` arguments."""
    import subprocess
    import sys

    cmd = [
        sys.executable,
        "-m",
        "tunewise",
        "worker",
        "--db",
        db_url,
        "--concurrency",
        str(concurrency),
        *args,
    ]
    proc = subprocess.Popen(cmd)
    notice(f"tunewise worker: process {proc.pid}, up to {concurrency} fine-tuning job(s) at a time")
    return proc


def stop_worker(proc: Any, notice: Callable[[str], None], grace_s: float = 180.0) -> None:
    """SIGTERM: running jobs stop at their next step, checkpointed, and go back to the queue."""
    import subprocess

    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        notice("the worker did not stop in time; killing it (its jobs are requeued by the next)")
        proc.kill()
