"""The next dataset version of a retrain: the current version's rows plus the reviewed production
rows, through the data stage's own gates.

`prepare` reads the current train and validation rows first and the production rows last, so its
dedup (first occurrence kept) drops a production row that repeats an existing one, its leakage
check drops one that repeats the golden set (the current version's golden.jsonl, kept as is), and
its PII scan and quality rules apply as on any input. The provenance cap for production rows
(`monitor.retrain.max_production_share`) is checked on what was kept. Augmentation is off: the
current train rows already hold their augmented copies.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_text, sha256_file
from tunewise.config import ProjectConfig
from tunewise.errors import DataError
from tunewise.monitor.review import Reviewed, load_reviewed

PRODUCTION_FILE = "production.jsonl"
SLICE_FILE = "golden-production.jsonl"


def bump_minor(version: str | None) -> str:
    """1.0.0 -> 1.1.0 (a dataset version without a semver counts as 1.0.0)."""
    parts = (version or "1.0.0").split("+")[0].split("-")[0].split(".")
    try:
        major, minor = int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise DataError(
            f"dataset version '{version}' is not a semantic version like 1.0.0"
        ) from None
    return f"{major}.{minor + 1}.0"


def common_system(train: Path) -> str | None:
    """The system message most of the current training rows share (the logged prompt is the
    user's text alone), or None when they have none."""
    seen: Counter[str] = Counter()
    for line in train.read_text(encoding="utf-8").splitlines():
        messages = json.loads(line).get("messages") or []
        if messages and messages[0].get("role") == "system":
            seen[messages[0]["content"]] += 1
    return seen.most_common(1)[0][0] if seen else None


@dataclass
class NextVersion:
    folder: Path
    semver: str
    manifest_sha256: str
    reviewed: dict[str, Any]
    production: dict[str, Any]
    slice_path: Path | None


def _hold_out(rows: list[dict[str, Any]], share: float, seed: int) -> tuple[list, list]:
    """(train rows, refreshed golden slice): a seeded `share` of the reviewed rows is held out."""
    n = int(len(rows) * share)
    held = set(random.Random(seed).sample(range(len(rows)), n)) if n else set()
    return [r for i, r in enumerate(rows) if i not in held], [
        r for i, r in enumerate(rows) if i in held
    ]


def golden_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reviewed chat rows as golden cases: the answer becomes `expected` (a JSON object stays one)."""
    out = []
    for i, r in enumerate(rows, start=1):
        answer = r["messages"][-1]["content"]
        try:
            expected = json.loads(answer)
        except ValueError:
            expected = answer
        out.append({"id": f"p-{i:04d}", "messages": r["messages"][:-1],
                    "expected": expected if isinstance(expected, dict) else answer,
                    "tags": ["source:production"]})  # fmt: skip
    return out


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def next_version(
    cfg: ProjectConfig, current: Path, semver: str | None, reviewed_file: Path, folder: Path
) -> NextVersion:
    """Write the next version under `folder/dataset` (and the production rows and slice beside it);
    DataError when too few rows were reviewed, a gate stops prepare, or the cap is exceeded."""
    from tunewise.data.config import InputConfig
    from tunewise.data.prepare import prepare

    rc = cfg.monitor.retrain
    reviewed: Reviewed = load_reviewed(reviewed_file, common_system(current / "train.jsonl"))
    if len(reviewed.rows) < rc.min_reviewed:
        raise DataError(f"{reviewed_file}: {len(reviewed.rows)} reviewed row(s) ({reviewed.unreviewed} without an "
                        f"answer); a retrain needs at least {rc.min_reviewed} (monitor.retrain.min_reviewed)")  # fmt: skip
    train_rows, slice_rows = _hold_out(reviewed.rows, rc.golden_slice, cfg.monitor.seed)
    folder.mkdir(parents=True, exist_ok=True)
    _write_rows(folder / PRODUCTION_FILE, train_rows)
    slice_path = None
    if len(slice_rows) >= rc.min_slice:
        slice_path = folder / SLICE_FILE
        _write_rows(slice_path, golden_rows(slice_rows))
    version = bump_minor(semver)
    inputs = [current / "train.jsonl", *[p for p in [current / "validation.jsonl"] if p.is_file()],
              folder / PRODUCTION_FILE]  # fmt: skip
    golden = current / "golden.jsonl"
    data_cfg = cfg.data.model_copy(update={
        "version": version, "input": InputConfig(),
        "split": cfg.data.split.model_copy(update={"golden_file": str(golden) if golden.is_file() else None}),
        "augment": cfg.data.augment.model_copy(update={"enabled": False}),
    })  # fmt: skip
    out = folder / "dataset"
    res = prepare(inputs, data_cfg, out, overwrite=True)
    production = _production_counts(res, len(train_rows))
    if production["share"] > rc.max_production_share:
        shutil.rmtree(out, ignore_errors=True)
        raise DataError(f"production rows would be {production['share']:.0%} of dataset {version} "
                        f"({production['production_rows']} of {production['version_rows']}), over the cap of "
                        f"{rc.max_production_share:.0%} (monitor.retrain.max_production_share); review "
                        "fewer rows or raise the cap")  # fmt: skip
    return NextVersion(out, version, sha256_file(out / "manifest.json"), reviewed.summary(),
                       production, slice_path)  # fmt: skip


def _production_counts(res: Any, offered: int) -> dict[str, Any]:
    """How many production rows the gates kept and why the others were dropped."""
    dropped = [j for j in res.check.rejects if j.source.file == PRODUCTION_FILE]
    why: Counter[str] = Counter()
    for j in dropped:
        text = " ".join(j.reasons).lower()
        why["duplicate" if "duplicate" in text else "golden leakage" if "golden" in text
            else "pii" if "pii" in text else "other"] += 1  # fmt: skip
    total = sum(res.manifest["provenance"]["kept"].values())
    # The current version may hold production rows already: the cap counts them all.
    everything = res.manifest["provenance"]["kept"].get("production", 0)
    return {"offered": offered, "kept": offered - len(dropped), "dropped": dict(sorted(why.items())),
            "examples": [j.reasons[0] for j in dropped[:3]], "version_rows": total,
            "production_rows": everything, "share": everything / total if total else 0.0}  # fmt: skip
