"""Deterministic stratified train / validation / golden split, and the leakage check.

Each row's place is decided by `sha256(seed:row id)`, never by input order, so shuffling the input
file or adding unrelated rows does not move the others between splits. Within each stratum (a tag
or a field of the assistant JSON answer) rows are ordered by that hash and the first shares go to
golden and validation. The leakage check then removes from train every row that is an exact or
near duplicate (by prompt text) of a golden or validation row.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tunewise.data.config import DedupConfig, SplitConfig
from tunewise.data.schema import Row

NO_LABEL = "(none)"


@dataclass
class Split:
    """Rows per split, in a deterministic order (by hash), and what the leakage check removed."""

    train: list[Row] = field(default_factory=list)
    validation: list[Row] = field(default_factory=list)
    golden: list[Row] = field(default_factory=list)
    leaked: dict[str, str] = field(default_factory=dict)
    """train row id -> reason, for rows dropped because they duplicate a validation/golden row."""


def _rank(seed: int, row_id: str) -> str:
    return hashlib.sha256(f"{seed}:{row_id}".encode()).hexdigest()


def stratum_of(row: Row, stratify_by: str | None) -> str:
    """The row's stratum: a tag value, or `json:<field>` of the assistant's JSON answer."""
    if not stratify_by:
        return NO_LABEL
    if stratify_by.startswith("json:"):
        key = stratify_by[5:]
        try:
            value: Any = json.loads(row.answer())
        except ValueError:
            return NO_LABEL
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return NO_LABEL if value is None else str(value)
    value = row.tag(stratify_by)
    return NO_LABEL if value is None else value


def label_distribution(rows: Sequence[Row], stratify_by: str | None) -> dict[str, int]:
    """Count of rows per stratum label, sorted by label."""
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[stratum_of(row, stratify_by)] += 1
    return dict(sorted(counts.items()))


def _shares(n: int, validation: float, golden: float) -> tuple[int, int]:
    n_gold, n_val = round(n * golden), round(n * validation)
    # Tiny strata: keep at least one row in train before giving rows away.
    while n_gold + n_val >= n and n_gold + n_val > 0:
        if n_val >= n_gold and n_val > 0:
            n_val -= 1
        else:
            n_gold -= 1
    return n_gold, n_val


def assign_splits(rows: Sequence[Row], cfg: SplitConfig, *, make_golden: bool = True) -> Split:
    """Stratified deterministic split; `make_golden=False` when the user brings a golden file."""
    golden_share = cfg.golden if make_golden else 0.0
    strata: dict[str, list[tuple[str, Row]]] = defaultdict(list)
    for row in rows:
        strata[stratum_of(row, cfg.stratify_by)].append((_rank(cfg.seed, row.id), row))
    out = Split()
    for label in sorted(strata):
        members = sorted(strata[label], key=lambda p: (p[0], p[1].id))
        n_gold, n_val = _shares(len(members), cfg.validation, golden_share)
        out.golden.extend(r for _, r in members[:n_gold])
        out.validation.extend(r for _, r in members[n_gold : n_gold + n_val])
        out.train.extend(r for _, r in members[n_gold + n_val :])
    for part in (out.train, out.validation, out.golden):
        part.sort(key=lambda r: (_rank(cfg.seed, r.id), r.id))
    return out


def remove_leakage(split: Split, external_golden: Sequence[Row], dedup_cfg: DedupConfig) -> Split:
    """Drop from train every exact or near duplicate (prompt text) of a validation or golden row.

    One pass over all held-out rows (signatures are computed once); each reason then names the
    split of the row it duplicates.
    """
    from tunewise.data import dedup

    which = {r.id: "golden" for r in [*split.golden, *external_golden]} | {
        r.id: "validation" for r in split.validation
    }
    references = [*split.validation, *split.golden, *external_golden]
    if not references or not split.train:
        return split
    leaked = dedup.cross_duplicates(
        split.train, references, dedup_cfg, label=lambda ref: which[ref.id]
    )
    split.leaked = leaked
    split.train = [r for r in split.train if r.id not in leaked]
    return split


def to_golden(row: Row, stratify_by: str | None = None) -> dict[str, Any]:
    """Golden-set form (docs/ARCHITECTURE.md): prompt messages, expected answer (JSON if it parses), tags.

    With `stratify_by=json:<field>` the stratum becomes a `<field>:<value>` tag, so eval buckets exist.
    """
    answer = row.answer()
    try:
        expected: Any = json.loads(answer)
    except ValueError:
        expected = answer
    if isinstance(expected, int | float | bool) or expected is None:
        expected = answer  # a bare number or literal stays text: scorers compare strings
    tags = list(row.tags)
    if stratify_by and stratify_by.startswith("json:"):
        label = stratum_of(row, stratify_by)
        tag = f"{stratify_by[5:]}:{label}"
        if label != NO_LABEL and tag not in tags:
            tags = sorted([*tags, tag])
    return {
        "id": row.id,
        "messages": row.prompt_messages(),
        "expected": expected,
        "tags": tags,
        "provenance": row.provenance,
        "source": {"file": row.source.file, "line": row.source.line},
    }
