"""The data stage, top to bottom: `check` (report only) and `prepare` (write a dataset version).

load -> validate against the target -> count tokens -> PII -> quality rules and conflicting labels
-> deduplicate -> provenance cap -> [prepare: split -> leakage check -> augment train -> write].

Every rejected row carries all the reasons of the step that rejected it, prefixed with its file
and line. Accounting always balances: rows read = rows kept + rows rejected (augmented rows are
extra and counted apart).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tunewise.data.config import DataConfig
from tunewise.data.cost import estimate_cost
from tunewise.data.loaders import load_files, load_golden
from tunewise.data.results import CheckResult, PrepareResult, token_stats
from tunewise.data.schema import Reject, Row
from tunewise.data.split import Split, assign_splits, label_distribution, remove_leakage
from tunewise.data.targets import (
    Target,
    count_tokens,
    parse_target,
    tiktoken_encoding,
    validate_row,
)
from tunewise.errors import DataError

Progress = Callable[[str], None]
"""Called with the name of each step as it starts (the CLI shows it on stderr)."""


def _noop(_: str) -> None:
    return None


def check(
    files: Sequence[str | Path],
    cfg: DataConfig,
    *,
    progress: Progress = _noop,
    cost_options: dict[str, int] | None = None,
) -> CheckResult:
    """Run every rule on the inputs without writing anything; `result.blocking` lists what stops prepare.

    `cost_options` may carry prompt_tokens_saved, monthly_requests (and optionally prompt_tokens,
    output_tokens) for the break-even estimate.
    """
    from tunewise.artifacts import sha256_file

    if not files:
        raise DataError(
            "no input files; pass FILE... or list them under data.inputs in tunewise.yaml"
        )
    target = parse_target(cfg.target)
    paths = [Path(f) for f in files]
    progress("load")
    loaded = load_files(paths, cfg.input, default_provenance=cfg.provenance.default)
    counts = {"read": loaded.total_read, "rejected_on_load": len(loaded.rejects)}
    reasons: dict[str, list[str]] = {}  # row id -> every reason of the step that rejected it
    progress("validate")
    valid = _validate(loaded.rows, target, reasons, counts)
    progress("tokens")
    tok = _count_and_limit(valid, target, cfg, reasons, counts)
    valid = [r for r in valid if r.id not in reasons]
    progress("pii")
    pii, pii_mapping = _scan_pii(valid, cfg)
    progress("quality")
    clean = _quality(valid, cfg, reasons, counts)
    progress("dedup")
    kept, dedup_summary = _dedup(clean, cfg, reasons, counts)

    rejects = list(loaded.rejects)
    rejects += [
        Reject(row.source, [f"{row.source}: {w}" for w in reasons[row.id]], _raw(row), row.id)
        for row in loaded.rows
        if row.id in reasons
    ]
    if cfg.pii.mode == "redact" and rejects:
        pii_mapping = _redact_raw(rejects, cfg, pii_mapping)
    counts["kept"], counts["rejected"] = len(kept), len(rejects)
    _balance(counts["read"], len(kept), len(rejects))

    provenance = dict(sorted(Counter(r.provenance for r in kept).items()))
    kept_tokens = [tok[r.id] for r in kept]
    sizes = _break_even_sizes(kept, target, cost_options or {})
    return CheckResult(
        target=target,
        rows=kept,
        rejects=sorted(rejects, key=lambda j: (j.source.file, j.source.line)),
        counts=counts,
        tokens=token_stats(kept_tokens),
        token_counts={r.id: tok[r.id] for r in kept},
        labels=label_distribution(kept, cfg.split.stratify_by),
        provenance=provenance,
        pii=pii,
        dedup=dedup_summary,
        cost=estimate_cost(kept_tokens, target, epochs=cfg.epochs, **sizes),
        inputs=[
            {"file": p.name, "sha256": sha256_file(p), "lines": loaded.read.get(p.name, 0)}
            for p in paths
        ],
        blocking=_blockers(kept, provenance, pii, target, cfg),
        pii_mapping=pii_mapping,
    )


def _validate(
    rows: list[Row], target: Target, reasons: dict[str, list[str]], counts: dict[str, int]
) -> list[Row]:
    """Schema, role and format rules of the target; returns the rows that pass."""
    valid = []
    for row in rows:
        problems = validate_row(row, target)
        if problems:
            reasons[row.id] = problems
        else:
            valid.append(row)
    counts["invalid_for_target"] = len(rows) - len(valid)
    return valid


def _count_and_limit(
    rows: list[Row],
    target: Target,
    cfg: DataConfig,
    reasons: dict[str, list[str]],
    counts: dict[str, int],
) -> dict[str, int]:
    """Tokens per row id; rows over the per-example limit get a reason."""
    if target.encoding:
        tiktoken_encoding(target.encoding)  # load once, outside the loop
    tok = dict(zip((r.id for r in rows), count_tokens(rows, target), strict=True))
    limit = cfg.max_tokens_per_example or target.max_tokens
    too_long = [r for r in rows if tok[r.id] > limit]
    for r in too_long:
        reasons[r.id] = [
            f"tokens: {tok[r.id]:,} exceeds the per-example limit of {limit:,} for {target.spec} "
            "(the provider would truncate it silently); shorten or split it"
        ]
    counts["too_long"] = len(too_long)
    return tok


def _quality(
    rows: list[Row], cfg: DataConfig, reasons: dict[str, list[str]], counts: dict[str, int]
) -> list[Row]:
    """Quality rules and conflicting labels; a row collects every reason. Returns the clean rows."""
    from tunewise.data import quality

    failed = 0
    for row in rows:
        problems = quality.check_row(row, cfg.quality)
        if problems:
            reasons.setdefault(row.id, []).extend(problems)
            failed += 1
    conflicts = quality.find_conflicts(rows) if cfg.quality.conflicting_labels else {}
    for rid, why in conflicts.items():
        reasons.setdefault(rid, []).append(why)
    counts["quality"], counts["conflicting_labels"] = failed, len(conflicts)
    return [r for r in rows if r.id not in reasons]


def _dedup(
    rows: list[Row], cfg: DataConfig, reasons: dict[str, list[str]], counts: dict[str, int]
) -> tuple[list[Row], dict[str, Any]]:
    """Exact and near duplicates (first occurrence kept); returns kept rows and a cluster summary."""
    from tunewise.data import dedup

    if not (cfg.dedup.exact or cfg.dedup.near):
        counts["duplicates_exact"] = counts["duplicates_near"] = 0
        return rows, {"clusters": 0, "largest": 0, "examples": []}
    dd = dedup.find_duplicates(rows, cfg.dedup)
    for rid, why in dd.dropped.items():
        reasons[rid] = [why]
    counts["duplicates_exact"], counts["duplicates_near"] = dd.exact, dd.near
    summary = {
        "clusters": len(dd.clusters),
        "largest": max((len(c) for c in dd.clusters), default=0),
        "examples": dd.clusters[:20],
    }
    return [r for r in rows if r.id not in dd.dropped], summary


def _raw(row: Row) -> str:
    from tunewise.artifacts import canonical_json

    return canonical_json(row.content())[:2000]


def _redact_raw(rejects: list[Reject], cfg: DataConfig, mapping: Any) -> Any:
    """Rejected lines are written verbatim to rejects.jsonl: redact them with the dataset's placeholders."""
    from tunewise.data import pii

    mapping = mapping if mapping is not None else pii.Placeholders()
    for j in rejects:
        if j.raw:
            j.raw = pii.redact_text(j.raw, cfg.pii, mapping)
    return mapping


def _balance(read: int, kept: int, rejected: int) -> None:
    if read != kept + rejected:  # a bug, not a data problem: fail loudly rather than lose rows
        raise AssertionError(
            f"accounting does not balance: read {read} != kept {kept} + rejected {rejected}"
        )


def _scan_pii(rows: list[Row], cfg: DataConfig) -> tuple[dict[str, Any], Any]:
    """PII report (redacting in place in redact mode) and the placeholder table, kept for the golden set."""
    if cfg.pii.mode == "off" or not rows:
        return {"mode": cfg.pii.mode, "engine": None, "counts": {}, "rows_with_pii": 0}, None
    from tunewise.data import pii

    mapping = pii.Placeholders()
    report = pii.scrub(rows, cfg.pii, mapping)
    summary = {"mode": cfg.pii.mode, **report.to_json()}
    if cfg.pii.mode == "fail":
        summary["_sources"] = [str(r.source) for r in rows if r.id in report.rows_with_pii]
    return summary, mapping


def _blockers(
    kept: list[Row],
    provenance: dict[str, int],
    pii: dict[str, Any],
    target: Target,
    cfg: DataConfig,
) -> list[str]:
    out = []
    minimum = cfg.min_examples or target.min_examples
    if len(kept) < minimum:
        out.append(
            f"only {len(kept)} usable example(s); {target.spec} needs at least {minimum} (fix the rejects or add data)"
        )
    if cfg.pii.mode == "fail" and pii["rows_with_pii"]:
        where = ", ".join(pii["_sources"][:10])
        out.append(
            f"PII found in {pii['rows_with_pii']} row(s) with --pii fail ({where}); redact it or use --pii redact"
        )
    pii.pop("_sources", None)
    synthetic = provenance.get("synthetic", 0)
    if kept and synthetic / len(kept) > cfg.provenance.max_synthetic_share:
        out.append(
            f"synthetic rows are {synthetic / len(kept):.0%} of kept rows, above the cap of "
            f"{cfg.provenance.max_synthetic_share:.0%} (data.provenance.max_synthetic_share / --synthetic-cap); add human or production data"
        )
    return out


def _break_even_sizes(rows: list[Row], target: Target, opts: dict[str, int]) -> dict[str, int]:
    """Per-request prompt/answer sizes for the break-even: given, else measured on a sample of rows."""
    sizes = {
        "prompt_tokens_saved": opts.get("prompt_tokens_saved", 0),
        "monthly_requests": opts.get("monthly_requests", 0),
    }
    if not sizes["monthly_requests"]:
        return sizes
    sample = rows[:: max(1, len(rows) // 500)][:500]
    if sample and target.encoding and ("prompt_tokens" not in opts or "output_tokens" not in opts):
        enc = tiktoken_encoding(target.encoding)
        prompts = [
            sum(
                len(enc.encode_ordinary(str(m.get("content") or ""))) + 4
                for m in r.prompt_messages()
            )
            + 3
            for r in sample
        ]
        answers = [len(enc.encode_ordinary(r.answer())) for r in sample]
        sizes["prompt_tokens"] = round(sum(prompts) / len(prompts))
        sizes["output_tokens"] = round(sum(answers) / len(answers))
    sizes.update({k: v for k, v in opts.items() if k in ("prompt_tokens", "output_tokens")})
    return sizes


def prepare(
    files: Sequence[str | Path],
    cfg: DataConfig,
    out_dir: str | Path,
    *,
    progress: Progress = _noop,
    overwrite: bool = False,
    golden_file: str | Path | None = None,
) -> PrepareResult:
    """Check, split, remove leakage, optionally augment train, and write a dataset version folder.

    Raises DataError (and writes nothing) when `check` finds blocking problems.
    """
    from tunewise.data.output import write_version

    out = Path(out_dir)
    if out.exists() and not overwrite and any(out.iterdir()):
        raise DataError(
            f"{out}: already exists and is not empty; pick a new --out or pass --overwrite"
        )
    result = check(files, cfg, progress=progress)
    if result.blocking:
        raise DataError("data prepare stopped:\n  " + "\n  ".join(result.blocking))
    golden_path = golden_file or cfg.split.golden_file
    external = load_golden(golden_path) if golden_path else []
    if external and cfg.pii.mode == "redact":
        from tunewise.data import pii

        pii.scrub(
            external, cfg.pii, result.pii_mapping or pii.Placeholders()
        )  # same placeholders as train
    progress("split")
    split = assign_splits(result.rows, cfg.split, make_golden=not external)
    split = remove_leakage(split, external, cfg.dedup)
    leak_rejects = [
        Reject(r.source, [f"{r.source}: {split.leaked[r.id]}"], _raw(r), r.id)
        for r in result.rows
        if r.id in split.leaked
    ]
    rejects = sorted([*result.rejects, *leak_rejects], key=lambda j: (j.source.file, j.source.line))
    result.counts["leakage"] = len(leak_rejects)
    result.counts["rejected"] = len(rejects)
    augmented = _augment(split, cfg) if cfg.augment.enabled else []
    split.train.extend(augmented)
    kept = len(split.train) - len(augmented) + len(split.validation) + len(split.golden)
    _balance(result.counts["read"], kept, len(rejects))
    result.counts.update(
        {
            "kept": kept,
            "train": len(split.train),
            "validation": len(split.validation),
            "golden": len(split.golden),
            "augmented": len(augmented),
            "golden_from_file": len(external),
        }
    )
    # The leakage check moved rows to rejects: describe what is actually kept.
    final = [r for r in result.rows if r.id not in split.leaked]
    result.rows = final
    result.provenance = dict(sorted(Counter(r.provenance for r in final).items()))
    result.labels = label_distribution(final, cfg.split.stratify_by)
    result.tokens = token_stats([result.token_counts[r.id] for r in final])
    result.rejects = rejects
    blocking = _blockers(final, result.provenance, {"rows_with_pii": 0}, result.target, cfg)
    if blocking:
        raise DataError("data prepare stopped after the leakage check:\n  " + "\n  ".join(blocking))
    if len(split.train) < (cfg.min_examples or result.target.min_examples):
        raise DataError(
            f"only {len(split.train)} training example(s) after the split; {result.target.spec} needs at least "
            f"{cfg.min_examples or result.target.min_examples}: add data or lower split.validation / split.golden"
        )
    progress("write")
    manifest = write_version(
        out, result, split, rejects, external, cfg, golden_path=golden_path, overwrite=overwrite
    )
    return PrepareResult(out, manifest, result, split, len(augmented))


def _augment(split: Split, cfg: DataConfig) -> list[Row]:
    """Entity-swap copies of train rows only (augmenting held-out rows would leak them into train)."""
    from tunewise.data import augment

    new = augment.entity_swap(split.train, cfg.augment)
    seen = (
        {r.id for r in split.train}
        | {r.id for r in split.validation}
        | {r.id for r in split.golden}
    )
    out = []
    for row in new:
        if row.id not in seen:
            seen.add(row.id)
            out.append(row)
    return sorted(out, key=lambda r: r.id)
