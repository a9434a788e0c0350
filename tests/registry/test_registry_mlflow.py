"""Optional MLflow sync: alias changes mirrored into a real MLflow registry (file store) when
MLFLOW_TRACKING_URI is set and mlflow is installed; a silent no-op otherwise."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from registry_helpers import make_adapter, make_dataset

from tunewise.registry import Registry


def test_without_mlflow_promotion_still_works(
    tmp_path: Path, reg: Registry, world: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("mlflow") is not None:
        pytest.skip("mlflow is installed; covered by test_alias_changes_reach_mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file://{tmp_path / 'mlruns'}")
    assert reg.promote("m1", "support", force=True, reason="x")["model"] == "m1"
    assert not (tmp_path / "mlruns").exists()


def test_alias_changes_reach_mlflow(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip(
        "mlflow", reason="MLflow sync is optional: pip install mlflow-skinny to test it"
    )
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file://{tmp_path / 'mlruns'}")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    ds = make_dataset(tmp_path / "data")
    with Registry(sqlite_url) as reg:
        for i, name in enumerate(("m1", "m2")):
            reg.register_model(make_adapter(tmp_path / "runs", name, ds, seed=i))
        reg.promote("m1", "support", force=True, reason="x")
        reg.promote("m2", "support", force=True, reason="y")
        reg.rollback("support")
    client = MlflowClient()
    versions = {v.tags["tunewise.model"]: v for v in client.search_model_versions("name='support'")}
    assert set(versions) == {"m1", "m2"}
    assert versions["m1"].tags["tunewise.dataset_sha256"]
    assert str(client.get_registered_model("support").aliases["production"]) == str(
        versions["m1"].version
    )
