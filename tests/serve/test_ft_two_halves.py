"""The two halves test each other: `tunewise train --backend openai` (the client) against
tunewise's own fine-tuning API (the server) with the real SDK in between. The client uploads,
creates, polls with backoff, cancels and mirrors what the server reports: events, checkpoints,
status, and the `ft:` model registered with its dataset on the client's side."""

from __future__ import annotations

from pathlib import Path

import pytest
from ft_helpers import chat_rows, write_jsonl
from ft_server import ft_server, worker
from typer.testing import CliRunner

from tunewise.cli import app

pytest.importorskip("openai")


@pytest.fixture
def client_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The client's own state folder and store (another machine, in real life)."""
    state = tmp_path / "client"
    monkeypatch.setenv("TUNEWISE_HOME", str(state))
    monkeypatch.delenv("TUNEWISE_DB_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-anything")
    return state


def test_openai_backend_against_tunewise_serve(
    tmp_path: Path, tiny_model: Path, client_state: Path
) -> None:
    from tunewise.serve.finetune.config import DataPolicy
    from tunewise.serve.finetune.dataset import build_dataset

    train = write_jsonl(tmp_path / "training.jsonl", chat_rows(20))
    valid = write_jsonl(tmp_path / "validation.jsonl", chat_rows(4, seed=50))
    data = tmp_path / "ds"  # a dataset version as the data stage writes it
    build_dataset(train, valid, data, base=str(tiny_model), policy=DataPolicy(), min_examples=10)
    config = tmp_path / "tunewise.yaml"
    config.write_text("train:\n  openai:\n    poll_seconds: 0.2\n    max_poll_seconds: 1\n")
    with ft_server(tmp_path / "server", tiny_model) as srv, worker(srv.ft):
        result = CliRunner().invoke(
            app,
            [
                "train", "--data", str(data), "--backend", "openai",
                "--openai-model", "tiny", "--openai-base-url", srv.url + "/v1",
                "--suffix", "halves", "--epochs", "2", "--seed", "3",
                "--config", str(config), "--no-progress",
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        server_jobs = srv.sdk().fine_tuning.jobs.list().data
    from tunewise.registry import Registry
    from tunewise.train.jobs import JobStore

    job = JobStore().list_jobs()[0]
    assert job.backend == "openai" and job.status == "succeeded"
    remote = server_jobs[0]
    assert remote.status == "succeeded" and remote.seed == 3
    assert remote.method.supervised.hyperparameters.n_epochs == 2
    assert remote.validation_file is not None  # the dataset's validation split went up too
    name = job.result["fine_tuned_model"]
    assert name == remote.fine_tuned_model == f"ft:tiny:tunewise:halves:{remote.id[-8:]}"
    assert name in result.output
    messages = [e["message"] for e in JobStore().events(job.id, limit=1000)]
    for said in (
        "Files validated, moving job to queued state",
        "Fine-tuning job started",
        f"New fine-tuned model created: {name}",
        "The job has successfully completed",
    ):
        assert said in messages  # mirrored from the server, oldest first
    assert messages.index("Fine-tuning job started") < messages.index(
        "The job has successfully completed"
    )
    metrics = [e for e in JobStore().events(job.id, limit=1000) if e["type"] == "metrics"]
    assert metrics and "train_loss" in metrics[0]["data"]
    assert JobStore().checkpoints(job.id)  # the server's checkpoints, mirrored
    with Registry() as reg:
        lineage = reg.lineage(name, verify=False)
    assert lineage["model"]["provider_model_id"] == name
    assert lineage["dataset"]["manifest_sha256"] == job.result["dataset_sha256"]


def test_openai_backend_cancels_on_the_server(
    tmp_path: Path, tiny_model: Path, client_state: Path
) -> None:
    from tunewise.serve.finetune.config import DataPolicy
    from tunewise.serve.finetune.dataset import build_dataset
    from tunewise.train.jobs import JobStore

    train = write_jsonl(tmp_path / "training.jsonl", chat_rows(12))
    data = tmp_path / "ds"
    build_dataset(train, None, data, base=str(tiny_model), policy=DataPolicy(), min_examples=10)
    runner = CliRunner()
    with ft_server(tmp_path / "server", tiny_model) as srv:  # no worker: the job waits
        made = runner.invoke(
            app,
            [
                "train", "--data", str(data), "--backend", "openai", "--openai-model", "tiny",
                "--openai-base-url", srv.url + "/v1", "--no-wait", "--no-progress",
            ],
        )  # fmt: skip
        assert made.exit_code == 0, made.output
        job = JobStore().list_jobs()[0]
        remote_id = job.result["provider_job_id"]
        assert srv.sdk().fine_tuning.jobs.retrieve(remote_id).status == "validating_files"
        cancelled = runner.invoke(app, ["jobs", "cancel", job.id])
        assert cancelled.exit_code == 0, cancelled.output
        assert srv.sdk().fine_tuning.jobs.retrieve(remote_id).status == "cancelled"
    job = JobStore().get(job.id)
    assert job.status == "cancelled"
    said = [e["message"] for e in JobStore().events(job.id, limit=100)]
    assert f"Cancel requested on the provider for {remote_id}" in said
