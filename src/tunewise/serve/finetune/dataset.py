"""A job's uploaded files turned into a dataset version, through the data stage.

The training file becomes `train.jsonl` and the validation file (if any) `validation.jsonl` of a
versioned, hashed dataset folder (`tunewise data prepare`'s format); the hash of its manifest is
the fine-tuned model's dataset in the registry. OpenAI trains on a file as sent, so the data
stage's quality rules are off here; the server's policy (`serve.fine_tuning.data`) may add the
PII and duplicate gates, whose drops are counted and kept in the version's rejects file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.serve.finetune.checks import FileProblem
from tunewise.serve.finetune.config import DataPolicy

NO_LIMIT = 10**9  # per-example tokens: the trainer truncates long rows, as OpenAI does


@dataclass
class DatasetVersion:
    """What was written: the folder, its manifest hash, counts and the policy's findings."""

    folder: Path
    sha256: str
    train: int
    validation: int
    tokens: int
    dropped: dict[str, int] = field(default_factory=dict)
    pii: dict[str, Any] = field(default_factory=dict)


def data_config(base: str, policy: DataPolicy, min_examples: int) -> Any:
    """The data stage's settings for uploads: OpenAI's rules plus the server's gates."""
    from tunewise.data.config import (
        DataConfig,
        DedupConfig,
        PIIConfig,
        ProvenanceConfig,
        QualityConfig,
        SplitConfig,
    )

    return DataConfig(
        target=f"local:{base}",
        min_examples=min_examples,
        max_tokens_per_example=NO_LIMIT,
        quality=QualityConfig(
            min_response_chars=0,
            max_response_chars=NO_LIMIT,
            refusal_markers=[],
            hallucination_markers=[],
            conflicting_labels=False,
            grounding=False,
        ),
        dedup=DedupConfig(exact=policy.dedup, near=policy.dedup),
        pii=PIIConfig(mode=policy.pii),
        split=SplitConfig(validation=0, golden=0),
        provenance=ProvenanceConfig(max_synthetic_share=1.0),
    )


def build_dataset(
    train: Path,
    validation: Path | None,
    out: Path,
    *,
    base: str,
    policy: DataPolicy,
    min_examples: int,
) -> DatasetVersion:
    """Write the dataset version folder `out` (replacing a partial one); FileProblem if the
    server's gates leave too little to train on or find PII under `pii: fail`."""
    from tunewise.artifacts import sha256_file
    from tunewise.data.output import write_version
    from tunewise.data.prepare import check
    from tunewise.data.split import Split

    cfg = data_config(base, policy, min_examples)
    files = [train] + ([validation] if validation and validation != train else [])
    result = check(files, cfg)
    if policy.pii == "fail" and result.pii.get("rows_with_pii"):
        raise FileProblem(
            "pii_found",
            f"The job failed: this server refuses training data with personal information "
            f"(serve.fine_tuning.data.pii: fail) and found some in {result.pii['rows_with_pii']} "
            f"example(s) ({_counts(result.pii.get('counts', {}))}); redact it and upload again",
            "training_file",
        )
    split = Split(
        train=[r for r in result.rows if r.source.file == train.name],
        validation=[r for r in result.rows if validation and r.source.file == validation.name],
    )
    if validation == train:
        split.validation = list(split.train)
    dropped = {k: result.counts.get(k, 0) for k in ("duplicates_exact", "duplicates_near")}
    if len(split.train) < min_examples:
        raise FileProblem(
            "invalid_n_examples",
            f"Training file has {len(split.train)} example(s) after the server's data policy "
            f"removed {sum(dropped.values())} duplicate(s), but must have at least "
            f"{min_examples} examples",
            "training_file",
        )
    result.counts.update(
        train=len(split.train), validation=len(split.validation), golden=0, leakage=0
    )
    write_version(out, result, split, result.rejects, [], cfg, golden_path=None, overwrite=True)
    return DatasetVersion(
        folder=out,
        sha256=sha256_file(out / "manifest.json"),
        train=len(split.train),
        validation=len(split.validation),
        tokens=sum(result.token_counts[r.id] for r in split.train),
        dropped={k: v for k, v in dropped.items() if v},
        pii={k: v for k, v in result.pii.items() if k in ("mode", "counts", "rows_with_pii")},
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "unknown kinds"
