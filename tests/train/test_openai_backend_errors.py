"""`--backend openai` meeting the provider's errors, served by a real HTTP server with recorded
bodies: each becomes a clear message and a failed job that says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_recorded import recorded_app
from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.errors import DataError
from tunewise.serve.testing import ServerThread
from tunewise.train.backend import TrainRequest, get_backend
from tunewise.train.config import TrainConfig
from tunewise.train.jobs import JobStore

pytest.importorskip("openai")


@pytest.fixture
def provider(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with ServerThread(recorded_app(request.param)) as server:
        yield server.url + "/v1"


def _config(url: str) -> TrainConfig:
    return TrainConfig.model_validate(
        {
            "backend": "openai",
            "openai": {"model": "gpt-4o-mini-2024-07-18", "base_url": url, "poll_seconds": 0.01},
        }
    )


def _train(url: str, dataset: Path) -> list[str]:
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(dataset),
            "--backend",
            "openai",
            "--openai-model",
            "gpt-4o-mini-2024-07-18",
            "--openai-base-url",
            url,
            "--no-progress",
        ],
    )
    return [str(result.exit_code), " ".join(result.output.split())]


@pytest.mark.parametrize("provider", ["daily_limit"], indirect=True)
def test_daily_limit_is_a_clear_error_and_a_failed_job(provider: str, dataset: Path) -> None:
    code, out = _train(provider, dataset)
    assert code == "8"
    assert "daily quota of fine-tuning jobs is used" in out
    assert "HTTP 429 daily_rate_limit_exceeded" in out
    assert "--backend local" in out
    job = JobStore().list_jobs()[0]
    assert job.status == "failed" and job.error["code"] == "daily_rate_limit_exceeded"


@pytest.mark.parametrize("provider", ["refused"], indirect=True)
def test_provider_refusing_new_jobs_points_at_local_training(provider: str, dataset: Path) -> None:
    code, out = _train(provider, dataset)
    assert code == "8"
    assert "refused to create the fine-tuning job" in out
    assert "fine_tuning_unavailable" in out and "2027-01-06" in out
    assert "tunewise serve --workers 1" in out
    assert JobStore().list_jobs()[0].error["code"] == "jobs_refused"


@pytest.mark.parametrize("provider", ["bad_upload"], indirect=True)
def test_rejected_upload_is_a_data_error(provider: str, dataset: Path) -> None:
    with pytest.raises(DataError, match=r"Must be \.jsonl"):
        get_backend("openai").submit(TrainRequest(data=dataset, config=_config(provider)))
    job = JobStore().list_jobs()[0]
    assert job.status == "failed" and job.error["code"] == "invalid_file"


@pytest.mark.parametrize("provider", ["invalid_file"], indirect=True)
def test_job_failing_on_an_invalid_file_is_mirrored(provider: str, dataset: Path) -> None:
    job = get_backend("openai", sleep=lambda s: None).submit(
        TrainRequest(data=dataset, config=_config(provider), progress=False)
    )
    assert job.status == "failed"
    assert job.error["code"] == "invalid_training_file"
    assert job.error["param"] == "training_file"
    messages = [e["message"] for e in JobStore().events(job.id)]
    assert "Validating training file: file-rec1" in messages
    assert any("Discriminator 'role' is missing" in m for m in messages)
