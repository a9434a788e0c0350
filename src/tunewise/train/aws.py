"""AWS plumbing shared by the Bedrock backend and `tunewise export bedrock`.

Clients (boto3 imported here, never at package import), S3 URIs and uploads, and one translation of
AWS errors into messages that say what to do. Tests swap `client` for a function returning a
botocore-Stubber'd client where moto has no implementation (model import jobs).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tunewise.errors import ConfigError, ProviderError, TunewiseError, require

DOCS = "docs/training.md, section 'Hosted training on Bedrock'"
THROTTLED = {"ThrottlingException", "TooManyRequestsException", "SlowDown", "RequestLimitExceeded"}


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client with adaptive retries (throttling backs off inside botocore first)."""
    boto3 = require("boto3", "aws", "Talking to Amazon Bedrock and S3")
    from botocore.config import Config

    region = region or boto3.session.Session().region_name
    if not region:
        raise ConfigError(
            "no AWS region: set train.bedrock.region (--bedrock-region / --region) or AWS_REGION"
        )
    return boto3.client(
        service, region_name=region, config=Config(retries={"mode": "adaptive", "max_attempts": 8})
    )


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (or of an S3 transfer failure), else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or "") or None
    found = re.search(r"An error occurred \((\w+)\)", str(exc))  # S3UploadFailedError wraps it
    return found.group(1) if found else None


def provider_error(
    exc: BaseException, action: str, *, role: str | None = None, bucket: str | None = None
) -> TunewiseError:
    """A botocore failure as a ProviderError naming what failed and what to do next."""
    from botocore.exceptions import (
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigError(
            f"{action}: no AWS credentials found; set AWS_PROFILE (after aws configure or "
            "aws sso login) or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, NoRegionError):
        return ConfigError(f"{action}: no AWS region; set train.bedrock.region or AWS_REGION")
    if isinstance(exc, EndpointConnectionError):
        return ProviderError(f"{action}: cannot reach AWS ({exc}); check the network and region")
    code = error_code(exc) or type(exc).__name__
    message = getattr(exc, "response", {}).get("Error", {}).get("Message") or str(exc)
    err = ProviderError(f"{action}: AWS {code}: {message}. {_advice(code, role, bucket)}")
    err.aws_code = code  # type: ignore[attr-defined]
    return err


def throttled(exc: BaseException) -> bool:
    """Whether `exc` (raw or translated) is AWS throttling, worth waiting out."""
    return (getattr(exc, "aws_code", None) or error_code(exc)) in THROTTLED


def _advice(code: str, role: str | None, bucket: str | None) -> str:
    where = f"s3://{bucket}" if bucket else "the bucket"
    if code in {"AccessDenied", "AccessDeniedException", "403", "Forbidden"}:
        return (
            "The identity running tunewise needs bedrock:CreateModelCustomizationJob, "
            "bedrock:GetModelCustomizationJob, bedrock:StopModelCustomizationJob (or the "
            f"ModelImportJob actions), iam:PassRole on {role or 'the role'}, and s3:PutObject / "
            f"s3:GetObject / s3:ListBucket on {where}; the role must trust bedrock.amazonaws.com "
            f"and may read and write {where}. See {DOCS}"
        )
    if code == "ValidationException":
        return (
            "Check that the base model is offered for fine-tuning in this region (aws bedrock "
            "list-foundation-models --by-customization-type FINE_TUNING), that the role ARN is "
            "complete, and the hyperparameter ranges (train.bedrock.hyperparameters)"
        )
    if code in THROTTLED:
        return (
            "AWS throttled the request even after retries: wait a minute and run the command "
            "again (a created job keeps running: tunewise jobs show JOB); if it persists, ask for "
            "a higher quota in the Service Quotas console"
        )
    if code == "ServiceQuotaExceededException":
        return (
            "Too many customization or import jobs at once for this account: wait for one to "
            "finish (tunewise jobs list) or raise the quota in the Service Quotas console"
        )
    if code in {"NoSuchBucket", "404"}:
        return f"Create the bucket first (aws s3 mb {where}) or fix train.bedrock.bucket / --s3"
    if code in {"ResourceInUseException", "ConflictException"}:
        return (
            "A job or model with that name exists; choose another name (--name / custom_model_name)"
        )
    return f"See {DOCS}"


# ---------------------------------------------------------------- S3


def parse_s3_uri(uri: str, what: str = "--s3") -> tuple[str, str]:
    """(bucket, key prefix) of `s3://bucket/prefix`; ConfigError for anything else."""
    found = re.fullmatch(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(.*))?", uri.strip())
    if not found:
        raise ConfigError(f"{what}: '{uri}' is not an S3 URI like s3://my-bucket/path/")
    return found.group(1), (found.group(2) or "").strip("/")


def check_bucket(s3: Any, bucket: str, role: str | None = None) -> None:
    """Fail early, with the fix, when the bucket is missing or not ours to write."""
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as exc:
        raise provider_error(
            exc, f"checking S3 bucket '{bucket}'", role=role, bucket=bucket
        ) from exc


def upload(s3: Any, path: Path, bucket: str, key: str) -> str:
    """Upload one file (multipart for big ones); returns its s3:// URI."""
    try:
        s3.upload_file(str(path), bucket, key)
    except Exception as exc:
        raise provider_error(
            exc, f"uploading {path} to s3://{bucket}/{key}", bucket=bucket
        ) from exc
    return f"s3://{bucket}/{key}"


def upload_folder(s3: Any, folder: Path, bucket: str, prefix: str) -> list[str]:
    """Upload every file under `folder` to `prefix/`, keeping relative paths; returns the keys."""
    keys = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = f"{prefix}/{path.relative_to(folder).as_posix()}" if prefix else path.name
        upload(s3, path, bucket, key)
        keys.append(key)
    return keys


def safe_name(text: str, limit: int = 63) -> str:
    """A Bedrock job/model name: letters, digits and single hyphens, at most `limit` chars."""
    name = re.sub(r"[^0-9a-zA-Z]+", "-", text).strip("-")[:limit].strip("-")
    return name or "tunewise"
