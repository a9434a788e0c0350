"""Where the local engine puts its model: `device: auto` follows torch, a missing GPU is a clear error."""

from __future__ import annotations

import pytest

from tunewise.errors import ModelError
from tunewise.serve.weights import resolve_device

torch = pytest.importorskip("torch")


def gpus(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Make torch report `count` CUDA devices (the decision under test reads only these two)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_auto_is_the_cpu_without_a_gpu(monkeypatch):
    gpus(monkeypatch, 0)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"


def test_auto_is_cuda_when_torch_sees_one(monkeypatch):
    gpus(monkeypatch, 2)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda:1") == "cuda:1"


def test_asking_for_a_missing_gpu_names_the_device(monkeypatch):
    gpus(monkeypatch, 0)
    with pytest.raises(ModelError, match=r"'cuda'.*no CUDA GPU"):
        resolve_device("cuda")
    gpus(monkeypatch, 1)
    with pytest.raises(ModelError, match=r"'cuda:1'.*only 1 CUDA device"):
        resolve_device("cuda:1")
    with pytest.raises(ModelError, match="'tpu'"):
        resolve_device("tpu")


def test_local_upstream_rejects_an_unknown_device():
    from tunewise.errors import ConfigError
    from tunewise.serve.config import UpstreamConfig
    from tunewise.serve.upstreams.local import LocalUpstream

    cfg = UpstreamConfig.model_validate({"kind": "local", "base": "x", "device": "gpu"})
    with pytest.raises(ConfigError, match="device"):
        LocalUpstream("local", cfg)
