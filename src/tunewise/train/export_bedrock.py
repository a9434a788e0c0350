"""`tunewise export bedrock`: a local adapter as an Amazon Bedrock Custom Model Import.

The adapter is merged into its base (train/merge.py), the Hugging Face folder (safetensors, config,
tokenizer, manifest) uploaded to S3, and CreateModelImportJob started. The import is a job in the
job store (backend `bedrock`, method `import`), so `tunewise jobs show|events` follow it; `--wait`
polls GetModelImportJob. On Completed the `importedModelArn` is registered with the adapter's base,
dataset and the import job.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise.errors import ConfigError, TunewiseError
from tunewise.train import aws
from tunewise.train.bedrock_backend import BedrockBackend, Echo
from tunewise.train.bedrock_mirror import registry_call
from tunewise.train.jobs import Job


@dataclass
class ExportRequest:
    """What to import: an adapter (or full model) folder, where to put its weights, who imports."""

    adapter: Path
    s3_uri: str
    role_arn: str | None
    name: str | None = None
    region: str | None = None
    wait: bool = False
    poll_seconds: float = 30.0
    max_poll_seconds: float = 300.0


def export_bedrock(
    req: ExportRequest, backend: BedrockBackend | None = None, *, echo: Echo | None = None
) -> Job:
    """Merge, upload and start the import; with `req.wait`, poll until it ends."""
    from tunewise.train.manifest import read_manifest

    if not req.role_arn:
        raise ConfigError(
            "--role is required: the IAM role Bedrock assumes to read the weights from S3 "
            f"(arn:aws:iam::ACCOUNT:role/NAME); see {aws.DOCS}"
        )
    bucket, prefix = aws.parse_s3_uri(req.s3_uri)
    manifest = read_manifest(req.adapter)
    name = aws.safe_name(req.name or req.adapter.resolve().name)
    backend = backend or BedrockBackend()
    job = backend.store.create(
        method="import",
        base=str(manifest["base_model"].get("id")),
        data=str(req.adapter.resolve()),
        out=f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}/",
        config={
            "imported_model_name": name,
            "bedrock": {
                "role_arn": req.role_arn,
                "region": req.region,
                "poll_seconds": req.poll_seconds,
                "max_poll_seconds": req.max_poll_seconds,
            },
        },
        backend=backend.name,
    )
    try:
        _start(backend, job.id, req, manifest, name)
    except TunewiseError as exc:
        backend._fail(job.id, "bedrock_error", str(exc))
        raise
    return backend.wait(job.id, echo=echo) if req.wait else backend.store.get(job.id)


def _start(
    backend: BedrockBackend, job_id: str, req: ExportRequest, manifest: dict[str, Any], name: str
) -> None:
    from tunewise.train.merge import merge_adapter

    store = backend.store
    bucket, prefix = aws.parse_s3_uri(req.s3_uri)
    uri = f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}/"
    s3 = backend.client("s3", req.region)
    aws.check_bucket(s3, bucket, req.role_arn)  # before minutes of merging
    with tempfile.TemporaryDirectory(prefix="tunewise-export-") as tmp:
        if manifest.get("kind") == "full":
            folder = req.adapter
        else:
            folder = merge_adapter(req.adapter, Path(tmp) / "merged")
            store.event(job_id, f"Merged the adapter into {manifest['base_model'].get('id')}")
        keys = aws.upload_folder(s3, folder, bucket, prefix)
    store.event(job_id, f"Uploaded {len(keys)} files to {uri}")
    job_name = aws.safe_name(f"tunewise-import-{name}")
    br = backend.client("bedrock", req.region)
    try:
        arn = br.create_model_import_job(
            jobName=job_name,
            importedModelName=name,
            roleArn=req.role_arn,
            modelDataSource={"s3DataSource": {"s3Uri": uri}},
        )["jobArn"]
    except Exception as exc:
        raise aws.provider_error(
            exc, "creating the Bedrock model import job", role=req.role_arn, bucket=bucket
        ) from exc
    dataset = _dataset(backend, job_id, manifest.get("dataset") or {})
    result = {
        "provider": "bedrock",
        "kind": "import",
        "job_name": job_name,
        "job_arn": arn,
        "imported_model_name": name,
        "region": req.region,
        "s3_uri": uri,
        "files": keys,
        "base_hash": manifest["base_model"].get("hash"),
        "dataset_sha256": dataset,
        "provider_status": None,
    }
    store.set_status(job_id, "queued", result=result)
    store.event(job_id, f"Created Bedrock model import job: {arn}")
    registry_call(
        backend,
        job_id,
        lambda reg: reg.register_job(
            "bedrock", local_job_id=job_id, provider_job_id=arn, dataset=dataset, status="queued"
        ),
    )


def _dataset(backend: BedrockBackend, job_id: str, ident: dict[str, Any]) -> str | None:
    """The adapter's training dataset as a registered manifest hash (registering its folder)."""
    path, sha = ident.get("path"), ident.get("manifest_sha256")
    if path and (Path(path) / "manifest.json").is_file():
        ds = registry_call(backend, job_id, lambda reg: reg.register_dataset(path))
        return ds.manifest_sha256 if ds is not None else None
    known = registry_call(backend, job_id, lambda reg: reg.list_datasets()) or []
    if sha and any(d["manifest_sha256"] == sha for d in known):
        return str(sha)
    backend.store.event(
        job_id,
        "The adapter's dataset is neither on disk nor registered; the imported model's lineage "
        "will not name it",
        level="warn",
    )
    return None
