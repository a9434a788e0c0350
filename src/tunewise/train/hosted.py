"""What every hosted backend does the same way: registry calls that never stop the job, dataset
lineage, and following a job's events on the terminal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from tunewise.train.jobs import JobStore

Echo = Callable[[str], None]


class Hosted(Protocol):
    store: JobStore
    registry_url: str | None


def registry_call(backend: Hosted, job_id: str, fn: Callable[[Any], Any]) -> Any:
    """Run one registry operation; a failure is a warning event (the hosted job goes on)."""
    from tunewise.registry import Registry

    try:
        with Registry(backend.registry_url) as reg:
            return fn(reg)
    except Exception as exc:  # the hosted job goes on; the warning says what was not recorded
        backend.store.event(job_id, f"Registry not updated: {exc}", level="warn")
        return None


def register_dataset(backend: Hosted, job_id: str, data: Path) -> str | None:
    """The dataset's manifest hash, registered for lineage; None (with a warning) without one."""
    if not (data / "manifest.json").is_file():
        backend.store.event(
            job_id,
            f"{data} has no manifest.json; the model's lineage will not name its dataset",
            level="warn",
        )
        return None
    ds = registry_call(backend, job_id, lambda reg: reg.register_dataset(data))
    return ds.manifest_sha256 if ds is not None else None


def echo_events(store: JobStore, job_id: str, after: str | None, echo: Echo | None) -> str | None:
    """Print events newer than `after`; returns the id of the last one."""
    events = store.events(job_id, after=after, limit=1000)
    for e in events:
        if echo:
            echo(f"[{e['level']}] {e['message']}")
    return events[-1]["id"] if events else after


def stderr_echo(line: str) -> None:
    from tunewise.cli._console import err_console

    err_console.print(line, markup=False, highlight=False)
