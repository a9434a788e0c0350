"""manifest.json of an adapter (or full model) folder: what produced it, from what, how well.

Shape (docs/ARCHITECTURE.md): {"kind", "base_model": {"id", "path", "hash"}, "dataset": {"path",
"manifest_sha256"}, "config", "metrics", "tokens_trained", "wall_time_s", "tunewise_version", "job_id"}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunewise import __version__
from tunewise.artifacts import atomic_write_json, read_json, sha256_file
from tunewise.errors import ModelError

MANIFEST = "manifest.json"


def dataset_identity(data_dir: str | Path) -> dict[str, Any]:
    """Path and sha256(manifest.json) of a dataset folder (None when it has no manifest)."""
    data_dir = Path(data_dir)
    m = data_dir / "manifest.json"
    return {
        "path": str(data_dir.resolve()),
        "manifest_sha256": sha256_file(m) if m.is_file() else None,
    }


def write_manifest(
    out: str | Path,
    *,
    kind: str,
    base_id: str,
    base_path: str | Path,
    base_hash: str,
    data_dir: str | Path,
    config: dict[str, Any],
    metrics: dict[str, Any],
    tokens_trained: int,
    wall_time_s: float,
    job_id: str | None,
) -> Path:
    return atomic_write_json(
        Path(out) / MANIFEST,
        {
            "kind": kind,
            "base_model": {"id": base_id, "path": str(base_path), "hash": base_hash},
            "dataset": dataset_identity(data_dir),
            "config": config,
            "metrics": metrics,
            "tokens_trained": int(tokens_trained),
            "wall_time_s": round(float(wall_time_s), 3),
            "tunewise_version": __version__,
            "job_id": job_id,
        },
    )


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of an adapter folder; ModelError if absent or unreadable."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ModelError(f"{path}: no manifest; this folder was not written by tunewise train")
    try:
        data = read_json(path)
    except ValueError as exc:
        raise ModelError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(data, dict) or "base_model" not in data:
        raise ModelError(f"{path}: not an adapter manifest (no base_model)")
    return data
