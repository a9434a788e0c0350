"""Content-keyed stages: a stage re-runs only when its inputs or config changed.

Each stage writes into `runs/<run-id>/<stage>/`: `attempt.json` (its key) when it starts, then
`stage.json` with its key (a hash of its config, its input files and the keys of the stages it
depends on), its outputs and the size of every file it wrote. A stage whose folder holds a
`stage.json` with the same key and all those files is reused. A stage that did not finish has no
`stage.json`: a re-run empties its folder and starts it over, except that with `resume=True` a
`resumable` stage (training) keeps the folder of an attempt with the same key and continues it.
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
    resumable: bool = False
    """Can continue an unfinished attempt from what it left in its folder (with `resume=True`)."""


ATTEMPT = "attempt.json"
MARKER = "stage.json"


def run_stages(
    run_dir: Path,
    stages: list[Stage],
    *,
    resume: bool = False,
    on_event: Callable[[StageRecord], None] | None = None,
    stop_after: Callable[[StageRecord], str | None] | None = None,
) -> list[StageRecord]:
    """Run stages in order, skipping those whose key matches the stored one.

    `resume` lets resumable stages continue an unfinished attempt instead of starting over.
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
        cached, note = _cached(folder, stage.name, key)
        if cached is not None:
            rec = cached
        else:
            upstream = {d: outputs[d] for d in stage.depends_on}
            rec = _run_stage(stage, folder, key, upstream, resume=resume)
            rec.note = "; ".join(n for n in (note, rec.note) if n)
        records[stage.name] = rec
        outputs[stage.name] = rec.outputs
        if on_event:
            on_event(rec)
        if stop_after:
            stop_reason = stop_after(rec)
    return list(records.values())


def _run_stage(
    stage: Stage, folder: Path, key: str, upstream: dict[str, dict[str, Any]], *, resume: bool
) -> StageRecord:
    note = _open_folder(folder, key, continue_attempt=resume and stage.resumable)
    if note and not stage.resumable:
        note = ""  # nothing to continue: starting over is all there is
    started = time.perf_counter()
    try:
        out = stage.fn(folder, upstream)
    except TunewiseError as exc:
        raise StageFailed(
            f"stage '{stage.name}' failed: {exc}"
            + (f"\nfix: {stage.fix_hint}" if stage.fix_hint else "")
            + "\nthen run again with --resume: finished stages are reused"
            + (", and training continues from its last checkpoint" if stage.resumable else "")
        ) from exc
    rec = StageRecord(stage.name, key, "ran", time.perf_counter() - started, out, note)
    atomic_write_json(
        folder / MARKER,
        {
            "stage": stage.name,
            "key": key,
            "seconds": round(rec.seconds, 3),
            "outputs": out,
            "files": _listing(folder),
        },
    )
    return rec


def _open_folder(folder: Path, key: str, *, continue_attempt: bool) -> str:
    """Keep the folder of an unfinished attempt with this key, or empty it; returns a note."""
    attempt = _read(folder / ATTEMPT)
    unfinished = (
        attempt is not None and attempt.get("key") == key and not (folder / MARKER).exists()
    )
    if unfinished and continue_attempt:
        return "continued an unfinished attempt"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    atomic_write_json(folder / ATTEMPT, {"key": key, "started_at": round(time.time(), 3)})
    if unfinished:
        return "started over: an earlier attempt had not finished (--resume continues it)"
    return ""


def _listing(folder: Path) -> dict[str, int]:
    """Every file a stage wrote (relative path -> size), so a reuse can check they are all there."""
    return {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _cached(folder: Path, name: str, key: str) -> tuple[StageRecord | None, str]:
    """The stored record when the key matches and every file is still there; else (None, why)."""
    stored = _read(folder / MARKER)
    if stored is None or stored.get("key") != key:
        return None, ""
    files: dict[str, int] = stored.get("files") or {}  # markers of older releases: no listing
    gone = [rel for rel, size in files.items() if _size(folder / rel) != size]
    if gone:
        return None, f"re-ran: {len(gone)} output file(s) missing or changed, e.g. {gone[0]}"
    seconds = float(stored.get("seconds", 0.0))
    return StageRecord(name, key, "cached", seconds, stored.get("outputs", {})), ""


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
