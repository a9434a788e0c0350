"""Optional MLflow sync: when MLFLOW_TRACKING_URI is set and mlflow is installed, alias changes
are mirrored into the MLflow model registry (one registered model per feature, one version per
tunewise model, with lineage tags; the alias set on that version). Failures only warn: the
tunewise registry stays the source of truth.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunewise.registry.store import Registry


def enabled() -> bool:
    return (
        bool(os.environ.get("MLFLOW_TRACKING_URI"))
        and importlib.util.find_spec("mlflow") is not None
    )


def _tags(info: dict[str, Any]) -> dict[str, str]:
    model, dataset, job = info["model"], info.get("dataset") or {}, info.get("job") or {}
    tags = {
        "tunewise.model": model["model"],
        "tunewise.kind": model["kind"],
        "tunewise.base_id": model["base"]["id"],
        "tunewise.base_hash": model["base"]["hash"] or "",
        "tunewise.adapter_sha256": model["adapter_sha256"] or "",
        "tunewise.provider_model_id": model["provider_model_id"] or "",
        "tunewise.dataset_sha256": dataset.get("manifest_sha256") or "",
        "tunewise.dataset_semver": dataset.get("semver") or "",
        "tunewise.job": job.get("local_job_id") or job.get("provider_job_id") or "",
    }
    gates = info.get("gates") or []
    if gates:
        tags["tunewise.gate"] = (
            f"{gates[-1]['decision']} vs {gates[-1]['reference']} golden {gates[-1]['golden_sha256'][:12]}"
        )
    return tags


def sync_alias(registry: Registry, event: dict[str, Any]) -> None:
    """Mirror one alias change: ensure the feature's registered model and the version, set the alias."""
    if not enabled():
        return
    try:
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        feature, name = event["feature"], event["model"]
        info = registry.lineage(name, verify=False)
        with contextlib.suppress(Exception):  # already exists
            client.create_registered_model(feature, tags={"tunewise.feature": feature})
        found = client.search_model_versions(f"name='{feature}' and tag.`tunewise.model`='{name}'")
        if found:
            version = found[0].version
        else:
            source = info["model"]["adapter_path"] or info["model"]["provider_model_id"]
            version = client.create_model_version(feature, source, tags=_tags(info)).version
        client.set_registered_model_alias(feature, event["alias"], version)
    except Exception as exc:  # the tunewise registry stays authoritative
        warnings.warn(
            f"MLflow sync of {event.get('feature')}@{event.get('alias')} failed: {exc}",
            stacklevel=2,
        )
