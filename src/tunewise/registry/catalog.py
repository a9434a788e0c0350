"""Registering what the pipeline produced: dataset versions, training jobs, models.

Functions here run inside the caller's transaction (a Session) and are idempotent: registering
the same content again returns the existing row.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tunewise.artifacts import canonical_json, sha256_file
from tunewise.errors import RegistryError
from tunewise.registry.integrity import (
    dataset_manifest_path,
    folder_sha256,
    listed_files,
    read_json_object,
)
from tunewise.registry.tables import Dataset, Job, Model


def current_user(by: str | None = None) -> str:
    """Who is acting: `by`, else TUNEWISE_USER, USER or the login name."""
    if by:
        return by
    env = os.environ.get("TUNEWISE_USER") or os.environ.get("USER") or os.environ.get("LOGNAME")
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no passwd entry
        return "unknown"


def provider_backend(provider_model_id: str) -> str:
    """The training backend implied by a provider model id."""
    if provider_model_id.startswith("ft:"):
        return "openai"
    if provider_model_id.startswith("arn:aws:bedrock"):
        return "bedrock"
    return "provider"


def dataset_from_folder(s: Session, path: str | Path, by: str | None) -> Dataset:
    """Register a dataset version folder (or its manifest.json); idempotent by manifest hash."""
    manifest_path = dataset_manifest_path(path)
    manifest = read_json_object(manifest_path, "dataset manifest")
    digest = sha256_file(manifest_path)
    location = str(manifest_path.parent)
    row = s.scalar(select(Dataset).where(Dataset.manifest_sha256 == digest))
    if row is None:
        row = Dataset(
            manifest_sha256=digest,
            semver=str(manifest.get("semver") or manifest.get("version") or "") or None,
            location=location,
            files_json=canonical_json(listed_files(manifest)),
            registered_by=current_user(by),
        )
        s.add(row)
        s.flush()
    elif row.location != location and not (Path(row.location) / "manifest.json").is_file():
        row.location = location  # the same version, moved
    return row


def find_dataset(s: Session, ref: str) -> Dataset:
    """A dataset by folder path (registering it) or by manifest hash (or a unique prefix)."""
    if Path(ref).expanduser().exists():
        return dataset_from_folder(s, ref, None)
    rows = s.scalars(select(Dataset).where(Dataset.manifest_sha256.startswith(ref.lower()))).all()
    if len(rows) != 1:
        raise RegistryError(
            f"no single dataset matches '{ref}'; run tunewise registry list --datasets"
        )
    return rows[0]


def upsert_job(
    s: Session,
    backend: str,
    *,
    local_job_id: str | None = None,
    provider_job_id: str | None = None,
    dataset: str | None = None,
    status: str | None = None,
    config: dict[str, Any] | None = None,
    by: str | None = None,
) -> Job:
    """A training job, found by (backend, local or provider job id) or created; fields updated."""
    if not local_job_id and not provider_job_id:
        raise RegistryError("a job needs a local job id or a provider job id")
    conds = []
    if local_job_id:
        conds.append(Job.local_job_id == local_job_id)
    if provider_job_id:
        conds.append(Job.provider_job_id == provider_job_id)
    row = s.scalar(select(Job).where(Job.backend == backend, or_(*conds)))
    ds = find_dataset(s, dataset) if dataset else None
    if row is None:
        row = Job(backend=backend, registered_by=current_user(by), config_json="{}")
        s.add(row)
    row.local_job_id = local_job_id or row.local_job_id
    row.provider_job_id = provider_job_id or row.provider_job_id
    row.status = status or row.status
    if ds is not None:
        row.dataset_id = ds.id
    if config:
        row.config_json = canonical_json(config)
    s.flush()
    return row


def _trained_on(
    s: Session, folder: Path, info: dict[str, Any], dataset: str | None
) -> Dataset | None:
    """The dataset an adapter was trained on; registered from its folder when present."""
    expected = info.get("manifest_sha256")
    path = info.get("path")
    folder_given = bool(path) and (Path(str(path)).expanduser() / "manifest.json").is_file()
    if not dataset and not folder_given:
        if not expected:
            return None
        # The folder is gone: link by hash if registered; lineage shows the bare hash otherwise.
        return s.scalar(select(Dataset).where(Dataset.manifest_sha256 == expected))
    row = find_dataset(s, dataset or str(path))
    if expected and row.manifest_sha256 != expected:
        raise RegistryError(
            f"{folder}: trained on dataset {expected[:12]} but {row.location} now hashes to "
            f"{row.manifest_sha256[:12]}; the dataset changed after training"
        )
    return row


def _weights_hash(folder: Path) -> str | None:
    """The eval stage's adapter identity (PEFT files only), so reports can be matched to models."""
    if not any(p.name.startswith("adapter_") for p in folder.iterdir()):
        return None
    from tunewise.infer import adapter_hash

    return adapter_hash(folder)


def adapter_model(
    s: Session, folder: Path, name: str | None, dataset: str | None, by: str | None
) -> Model:
    """Register an adapter, full-model or classifier folder from its manifest.json (see docs/ARCHITECTURE.md)."""
    folder = folder.expanduser().resolve()
    manifest = read_json_object(folder / "manifest.json", "adapter manifest")
    base = manifest.get("base_model") or {}
    if not isinstance(base, dict) or not base.get("id"):
        raise RegistryError(
            f"{folder / 'manifest.json'}: base_model.id is missing; was it made by `tunewise train`?"
        )
    digest = folder_sha256(folder)
    name = name or folder.name
    existing = s.scalar(select(Model).where(Model.name == name))
    if existing is not None:
        if existing.adapter_sha256 == digest:
            return existing
        raise RegistryError(
            f"a different model is already registered as '{name}'; pass another --name"
        )
    raw_info = manifest.get("dataset")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    ds = _trained_on(s, folder, info, dataset)
    job = None
    if manifest.get("job_id"):
        job = upsert_job(s, "local", local_job_id=str(manifest["job_id"]), by=by)
        if ds is not None and job.dataset_id is None:
            job.dataset_id = ds.id
    row = Model(
        name=name,
        kind=manifest["kind"] if manifest.get("kind") in {"full", "classifier"} else "adapter",
        base_id=str(base["id"]),
        base_hash=base.get("hash"),
        base_path=base.get("path"),
        adapter_path=str(folder),
        adapter_sha256=digest,
        weights_sha256=_weights_hash(folder),
        dataset_sha256=ds.manifest_sha256 if ds else info.get("manifest_sha256"),
        dataset_id=ds.id if ds else None,
        job_id=job.id if job else None,
        manifest_json=canonical_json(manifest),
        registered_by=current_user(by),
    )
    s.add(row)
    s.flush()
    return row


def provider_model(
    s: Session,
    provider_model_id: str,
    *,
    name: str | None = None,
    base: str | None = None,
    base_hash: str | None = None,
    dataset: str | None = None,
    job: str | None = None,
    backend: str | None = None,
    by: str | None = None,
) -> Model:
    """Register a hosted fine-tune by its provider model id (`ft:...`, a Bedrock ARN, ...)."""
    existing = s.scalar(select(Model).where(Model.provider_model_id == provider_model_id))
    if existing is not None:
        return existing
    if not base:
        raise RegistryError(
            f"provider model '{provider_model_id}' needs its base model id (--base)"
        )
    ds = find_dataset(s, dataset) if dataset else None
    backend = backend or provider_backend(provider_model_id)
    job_row = upsert_job(s, backend, provider_job_id=job, dataset=dataset, by=by) if job else None
    row = Model(
        name=name or provider_model_id,
        kind="provider",
        base_id=base,
        base_hash=base_hash,
        provider_model_id=provider_model_id,
        dataset_sha256=ds.manifest_sha256 if ds else None,
        dataset_id=ds.id if ds else None,
        job_id=job_row.id if job_row else None,
        manifest_json="{}",
        registered_by=current_user(by),
    )
    s.add(row)
    s.flush()
    return row
