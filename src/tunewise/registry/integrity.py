"""Content hashes of the artifacts the registry points at, and their verification.

- dataset: sha256 of its `manifest.json` (the contract in docs/ARCHITECTURE.md), plus the
  sha256 of every file the manifest lists, when it lists them;
- adapter or full-model folder: `folder_sha256`, one hash over every non-hidden file's
  relative path and content (so a changed, added or removed file changes it).

The registry recomputes them whenever it resolves a model for use (show, lineage, promote,
rollback, routes) and raises RegistryError when one no longer matches.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from tunewise.artifacts import sha256_file
from tunewise.errors import RegistryError

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def folder_sha256(folder: str | Path) -> str:
    """One sha256 over the relative path and content hash of every non-hidden file, sorted."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue  # caches such as .tunewise-hash.json are not content
        h.update(rel.as_posix().encode() + b"\0" + sha256_file(path).encode() + b"\n")
    return h.hexdigest()


def dataset_manifest_path(path: str | Path) -> Path:
    """`manifest.json` of a dataset version, given the folder or the manifest itself."""
    path = Path(path).expanduser()
    manifest = path / "manifest.json" if path.is_dir() else path
    if not manifest.is_file():
        raise RegistryError(
            f"{manifest}: no dataset manifest; pass a dataset version folder made by `tunewise data prepare`"
        )
    return manifest.resolve()


def listed_files(manifest: dict[str, Any]) -> dict[str, str]:
    """The `{relative path: sha256}` files a dataset manifest lists (under `files`), if any.

    Accepts `{"files": {"train.jsonl": "<sha256>"}}` and `{"files": {"train.jsonl": {"sha256": ...}}}`
    (and a list of `{"path"|"name", "sha256"}`)."""
    files = manifest.get("files")
    out: dict[str, str] = {}
    if isinstance(files, dict):
        for name, value in files.items():
            digest = value.get("sha256") if isinstance(value, dict) else value
            if isinstance(digest, str) and _HEX64.match(digest):
                out[str(name)] = digest
    elif isinstance(files, list):
        for item in files:
            if isinstance(item, dict):
                name = item.get("path") or item.get("name")
                digest = item.get("sha256")
                if name and isinstance(digest, str) and _HEX64.match(digest):
                    out[str(name)] = digest
    return out


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RegistryError(f"{path}: cannot read {what}: {exc}") from exc
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: {what} must be a JSON object")
    return data


def verify_dataset(location: str, manifest_sha256: str, files: dict[str, str]) -> None:
    """Raise RegistryError unless the dataset folder still has the registered content."""
    manifest = Path(location) / "manifest.json"
    if not manifest.is_file():
        raise RegistryError(
            f"dataset {manifest_sha256[:12]} is missing: {manifest} not found; restore the folder "
            "or register the dataset at its new location"
        )
    actual = sha256_file(manifest)
    if actual != manifest_sha256:
        raise RegistryError(
            f"dataset {manifest}: sha256 changed since registration (registered {manifest_sha256[:12]}, "
            f"now {actual[:12]}); a dataset version is immutable: prepare a new version instead"
        )
    for name, digest in files.items():
        path = Path(location) / name
        if not path.is_file() or sha256_file(path) != digest:
            state = "missing" if not path.is_file() else "changed"
            raise RegistryError(
                f"dataset {manifest_sha256[:12]}: {path} {state} since registration (manifest lists "
                f"sha256 {digest[:12]}); restore it or prepare a new dataset version"
            )


def verify_folder(name: str, path: str, expected: str) -> None:
    """Raise RegistryError unless the model folder at `path` still hashes to `expected`."""
    folder = Path(path)
    if not folder.is_dir():
        raise RegistryError(
            f"model '{name}': {folder} is missing; restore it or deprecate the model"
        )
    actual = folder_sha256(folder)
    if actual != expected:
        raise RegistryError(
            f"model '{name}': {folder} changed since registration (sha256 {expected[:12]} registered, "
            f"{actual[:12]} now); restore the original files, or register the new content under a new name"
        )
