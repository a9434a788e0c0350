"""Writing a dataset version folder, all or nothing, byte-identical for identical input and config.

Files are written into a hidden sibling folder and renamed into place only once the manifest is
complete, so a crash never leaves a half-written version. Nothing written depends on the clock,
the machine or the output path.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunewise import __version__
from tunewise.artifacts import atomic_write_json, atomic_write_jsonl, sha256_file
from tunewise.data.config import DataConfig
from tunewise.data.cost import estimate_cost
from tunewise.data.results import CheckResult, token_stats
from tunewise.data.schema import Reject, Row
from tunewise.data.split import Split, label_distribution, to_golden
from tunewise.data.targets import count_tokens
from tunewise.errors import DataError

MANIFEST_FORMAT = "tunewise.dataset/1"


def write_version(
    out: Path,
    result: CheckResult,
    split: Split,
    rejects: Sequence[Reject],
    external_golden: Sequence[Row],
    cfg: DataConfig,
    *,
    golden_path: str | Path | None,
    overwrite: bool,
) -> dict[str, Any]:
    """Write train/validation/golden/rejects/manifest into `out` atomically; return the manifest."""
    out = Path(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        golden_rows = list(split.golden) or list(external_golden)
        files = {
            "train.jsonl": [r.to_json() for r in split.train],
            "validation.jsonl": [r.to_json() for r in split.validation],
            "rejects.jsonl": [j.to_json() for j in rejects],
        }
        if golden_rows:
            files["golden.jsonl"] = [to_golden(r, cfg.split.stratify_by) for r in golden_rows]
        for name, rows in files.items():
            atomic_write_jsonl(tmp / name, rows)
        manifest = _manifest(tmp, files, result, split, golden_rows, cfg, golden_path)
        atomic_write_json(tmp / "manifest.json", manifest)
        _swap_into_place(tmp, out, overwrite)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(
            f"{out}: could not write the dataset version ({exc}); nothing was written"
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _swap_into_place(tmp: Path, out: Path, overwrite: bool) -> None:
    if out.exists():
        if not overwrite and any(out.iterdir()):
            raise DataError(f"{out} appeared while writing; not replacing it (pass --overwrite)")
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def _tokens(rows: Sequence[Row], known: dict[str, int], result: CheckResult) -> list[int]:
    missing = [r for r in rows if r.id not in known]
    extra = (
        dict(zip((r.id for r in missing), count_tokens(missing, result.target), strict=True))
        if missing
        else {}
    )
    return [known.get(r.id, extra.get(r.id, 0)) for r in rows]


def _manifest(
    folder: Path,
    files: dict[str, list[dict[str, Any]]],
    result: CheckResult,
    split: Split,
    golden_rows: Sequence[Row],
    cfg: DataConfig,
    golden_path: str | Path | None,
) -> dict[str, Any]:
    train_tokens = _tokens(split.train, result.token_counts, result)
    tokens = {
        "counted_with": result.target.encoding or f"{result.target.name} tokenizer",
        "exact": result.target.tokens_exact,
        "train": token_stats(train_tokens),
        "validation": token_stats(_tokens(split.validation, result.token_counts, result)),
    }
    cost = estimate_cost(train_tokens, result.target, epochs=cfg.epochs)
    stratify = cfg.split.stratify_by
    used = cfg.model_dump(mode="json")
    used["inputs"] = [i["file"] for i in result.inputs]
    if golden_path:
        used["split"]["golden_file"] = Path(golden_path).name
    return {
        "format": MANIFEST_FORMAT,
        "version": cfg.version,
        "tunewise_version": __version__,
        "target": result.target.spec,
        "inputs": result.inputs,
        "golden_file": {"file": Path(golden_path).name, "sha256": sha256_file(golden_path)}
        if golden_path
        else None,
        "files": {
            name: {"sha256": sha256_file(folder / name), "rows": len(rows)}
            for name, rows in sorted(files.items())
        },
        "counts": dict(sorted(result.counts.items())),
        "accounting": {
            "read": result.counts["read"],
            "kept": result.counts["kept"],
            "rejected": result.counts["rejected"],
            "augmented_extra": result.counts.get("augmented", 0),
            "balanced": result.counts["read"] == result.counts["kept"] + result.counts["rejected"],
        },
        "tokens": tokens,
        "labels": {
            "stratify_by": stratify,
            "train": label_distribution(split.train, stratify),
            "validation": label_distribution(split.validation, stratify),
            "golden": label_distribution(golden_rows, stratify),
        },
        "provenance": {
            "kept": result.provenance,
            "train": dict(sorted(Counter(r.provenance for r in split.train).items())),
            "max_synthetic_share": cfg.provenance.max_synthetic_share,
        },
        "pii": result.pii,
        "dedup": result.dedup,
        "leakage": {"dropped_from_train": len(split.leaked)},
        "cost": cost.to_json(),
        "config": used,
    }
