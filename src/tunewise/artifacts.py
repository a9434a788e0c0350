"""Writing artifacts safely: atomic writes, canonical JSON, content hashes.

Every file tunewise produces goes through these helpers so that a crash never leaves a
half-written file and identical inputs give byte-identical outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def canonical_json(obj: Any, *, indent: int | None = None) -> str:
    """JSON with sorted keys and no NaN: the same object always gives the same text."""
    if indent is None:
        return json.dumps(
            obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    return (
        json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=indent, allow_nan=False) + "\n"
    )


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write to a temporary file in the same folder, fsync, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, canonical_json(obj, indent=2))


def atomic_write_jsonl(path: str | Path, rows: Iterable[Any]) -> Path:
    """One canonical JSON object per line, newline-terminated."""
    return atomic_write_text(path, "".join(canonical_json(r) + "\n" for r in rows))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hash of an object's canonical JSON: a stable key for configs and rows."""
    return sha256_bytes(canonical_json(obj).encode("utf-8"))


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
