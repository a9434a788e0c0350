"""Content-keyed stages: a stage re-runs only when its inputs or config changed.

Each stage writes into `runs/<run-id>/<stage>/` and finishes by writing `stage.json` with its
key (a hash of its config, its input files and the keys of the stages it depends on) and its
outputs. A stage whose folder holds a `stage.json` with the same key is skipped. A stage that
fails leaves no `stage.json`, so `--resume` (or simply running again) starts there.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_json, read_json, sha256_json
from tunewise.errors import TunewiseError


class StageFailed(TunewiseError):
    """A pipeline stage failed; the message names the stage and the fix."""

    exit_code = 8


@dataclass
class StageRecord:
    name: str
    key: str
    status: str  # ran | cached | skipped | failed
    seconds: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass
class Stage:
    """A named step: `fn(folder, upstream_outputs) -> outputs` plus what its key depends on."""

    name: str
    fn: Callable[[Path, dict[str, dict[str, Any]]], dict[str, Any]]
    depends_on: tuple[str, ...] = ()
    key_material: Any = None
    fix_hint: str = ""


def run_stages(
    run_dir: Path,
    stages: list[Stage],
    *,
    on_event: Callable[[StageRecord], None] | None = None,
    stop_after: Callable[[StageRecord], str | None] | None = None,
) -> list[StageRecord]:
    """Run stages in order, skipping those whose key matches the stored one.

    `stop_after(record)` may return a reason to stop the run early (e.g. a prompt-only variant
    already passes the gate); the remaining stages are recorded as skipped with that note.
    """
    records: dict[str, StageRecord] = {}
    outputs: dict[str, dict[str, Any]] = {}
    stop_reason: str | None = None
    for stage in stages:
        if stop_reason is not None:
            rec = StageRecord(stage.name, "", "skipped", note=stop_reason)
            records[stage.name] = rec
            if on_event:
                on_event(rec)
            continue
        key = sha256_json(
            {
                "stage": stage.name,
                "material": stage.key_material,
                "upstream": {d: records[d].key for d in stage.depends_on},
            }
        )
        folder = run_dir / stage.name
        marker = folder / "stage.json"
        cached = _cached(marker, stage.name, key)
        if cached is not None:
            rec = cached
        else:
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            started = time.perf_counter()
            upstream = {d: outputs[d] for d in stage.depends_on}
            try:
                out = stage.fn(folder, upstream)
            except TunewiseError as exc:
                raise StageFailed(
                    f"stage '{stage.name}' failed: {exc}"
                    + (f"\nfix: {stage.fix_hint}" if stage.fix_hint else "")
                    + "\nthen run again with --resume: finished stages are reused"
                ) from exc
            rec = StageRecord(stage.name, key, "ran", time.perf_counter() - started, out)
            atomic_write_json(
                marker,
                {"stage": stage.name, "key": key, "seconds": round(rec.seconds, 3), "outputs": out},
            )
        records[stage.name] = rec
        outputs[stage.name] = rec.outputs
        if on_event:
            on_event(rec)
        if stop_after:
            stop_reason = stop_after(rec)
    return list(records.values())


def _cached(marker: Path, name: str, key: str) -> StageRecord | None:
    if not marker.is_file():
        return None
    try:
        stored = read_json(marker)
    except (OSError, ValueError):
        return None
    if stored.get("key") != key:
        return None
    return StageRecord(
        name, key, "cached", float(stored.get("seconds", 0.0)), stored.get("outputs", {})
    )
