"""Jobs through their lives with a worker: invalid files fail with OpenAI's errors, pause stops
at a step with a checkpoint and resume continues from it, cancel stops a running job, queued
jobs run in order and at most N at once, lists page like OpenAI's."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from ft_helpers import chat_rows, dpo_rows
from ft_server import finished, ft_server, wait_for, worker

pytest.importorskip("openai")


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def upload(client, rows: list[dict]) -> str:
    return client.files.create(file=("t.jsonl", io.BytesIO(jsonl(rows))), purpose="fine-tune").id


def messages(client, job_id: str) -> list[str]:
    return [
        e.message for e in reversed(list(client.fine_tuning.jobs.list_events(job_id, limit=100)))
    ]


def training(job) -> bool:
    return job.status == "running"


def test_invalid_files_fail_the_job_with_openais_errors(tmp_path: Path, tiny_model: Path) -> None:
    with ft_server(tmp_path, tiny_model) as srv, worker(srv.ft):
        client = srv.sdk()
        few = client.fine_tuning.jobs.create(
            model="tiny", training_file=upload(client, chat_rows(7))
        )
        rows = chat_rows(12)
        del rows[4]["messages"][1]["role"]
        norole = client.fine_tuning.jobs.create(model="tiny", training_file=upload(client, rows))
        dpo = client.fine_tuning.jobs.create(
            model="tiny", training_file=upload(client, chat_rows(12)), method={"type": "dpo"}
        )
        for job_id in (few.id, norole.id, dpo.id):
            wait_for(client, job_id, finished, timeout=60)
        few, norole, dpo = (
            client.fine_tuning.jobs.retrieve(j) for j in (few.id, norole.id, dpo.id)
        )
        said = messages(client, few.id)
    assert few.status == "failed"
    assert few.error.code == "invalid_n_examples" and few.error.param == "training_file"
    assert few.error.message == "Training file has 7 example(s), but must have at least 10 examples"
    assert norole.error.code == "invalid_training_file"
    assert "Example 5, message 2 Discriminator 'role' is missing in value" in norole.error.message
    assert dpo.error.code == "invalid_training_file"
    assert "a dpo job needs preference rows" in dpo.error.message
    assert few.error.message in said  # said in the events too


def test_pause_resume_cancel_and_order(tmp_path: Path, tiny_model: Path) -> None:
    train = {"checkpoint_steps": 1000}  # only epoch checkpoints: a pause must add its own
    with ft_server(tmp_path, tiny_model, train={**_train(), **train}) as srv, worker(srv.ft):
        client = srv.sdk()
        long = client.fine_tuning.jobs.create(  # 48 steps an epoch: no epoch checkpoint soon
            model="tiny",
            training_file=upload(client, chat_rows(48)),
            hyperparameters={"n_epochs": 2, "batch_size": 1},
            seed=7,
        )
        short = client.fine_tuning.jobs.create(
            model="tiny",
            training_file=upload(client, chat_rows(12, seed=3)),
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}},
        )
        wait_for(client, long.id, lambda j: _stepped(client, j.id, 3))
        paused = client.fine_tuning.jobs.pause(long.id)
        assert paused.status in ("pausing", "paused")
        wait_for(client, long.id, lambda j: j.status == "paused")
        said = messages(client, long.id)
        stop = next(m for m in said if m.startswith("Fine-tuning job paused"))
        step = int(stop.rsplit("step ", 1)[1])
        assert 10 <= step < 48  # mid-epoch: the checkpoint the pause wrote itself
        assert step in [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(long.id)]
        # The next job in the queue runs while the first is paused.
        assert wait_for(client, short.id, finished).status == "succeeded"
        client.fine_tuning.jobs.resume(long.id)
        done = wait_for(client, long.id, finished)
        assert done.status == "succeeded"
        said = messages(client, long.id)
        assert f"Fine-tuning job resumed from its checkpoint at step {step}" in said
        assert any(m.endswith(f"resumed at step {step}") for m in said)  # the trainer's own word

        victim = client.fine_tuning.jobs.create(
            model="tiny",
            training_file=upload(client, chat_rows(12)),
            hyperparameters={"n_epochs": 40},
        )
        wait_for(client, victim.id, lambda j: _stepped(client, j.id, 1))
        assert client.fine_tuning.jobs.cancel(victim.id).status == "cancelled"
        later = client.fine_tuning.jobs.create(
            model="tiny",
            training_file=upload(client, chat_rows(12)),
            hyperparameters={"n_epochs": 1},
        )
        assert wait_for(client, later.id, finished).status == "succeeded"  # the slot came back
        victim = client.fine_tuning.jobs.retrieve(victim.id)
        assert victim.status == "cancelled" and victim.fine_tuned_model is None

        jobs = list(client.fine_tuning.jobs.list(limit=1))  # auto-paging, one per page
        assert [j.id for j in jobs] == [later.id, victim.id, short.id, long.id]
        started = {j: _first(client, j, "Fine-tuning job started") for j in (long.id, short.id)}
        assert started[long.id] < started[short.id]  # run in the order created
    from tunewise.registry import Registry

    with Registry(srv.db_url) as reg:
        names = {m["model"] for m in reg.list_models()}
    assert done.fine_tuned_model in names and f"ft:tiny:tunewise::{victim.id[-8:]}" not in names


def _train() -> dict:
    from ft_server import TRAIN

    return dict(TRAIN)


def _stepped(client, job_id: str, n: int) -> bool:
    events = client.fine_tuning.jobs.list_events(job_id, limit=100).data
    return any(e.type == "metrics" and (e.data or {}).get("step", 0) >= n for e in events)


def _first(client, job_id: str, message: str) -> int:
    events = client.fine_tuning.jobs.list_events(job_id, limit=100).data
    return min(int(e.id.split("-")[1]) for e in events if e.message == message)


def test_dpo_job(tmp_path: Path, tiny_model: Path) -> None:
    with ft_server(tmp_path, tiny_model) as srv, worker(srv.ft):
        client = srv.sdk()
        job = client.fine_tuning.jobs.create(
            model="tiny",
            training_file=upload(client, dpo_rows(12)),
            method={"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 1, "beta": 0.2}}},
        )
        job = wait_for(client, job.id, finished)
    assert job.status == "succeeded", job.error
    assert job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.2


def test_worker_runs_at_most_n_at_once(tmp_path: Path, tiny_model: Path) -> None:
    with ft_server(tmp_path, tiny_model) as srv:
        client = srv.sdk()
        ids = [  # all waiting before the worker starts: its first pass sees the three
            client.fine_tuning.jobs.create(
                model="tiny",
                training_file=upload(client, chat_rows(12, seed=i)),
                hyperparameters={"n_epochs": 1},
            ).id
            for i in range(3)
        ]
        with worker(srv.ft, concurrency=2):
            assert all(wait_for(client, j, finished).status == "succeeded" for j in ids)
        started = {j: _first(client, j, "Fine-tuning job started") for j in ids}
        done = {j: _first(client, j, "The job has successfully completed") for j in ids}
    # Event ids follow one sequence: the first two ran together, the third only once one ended.
    assert started[ids[0]] < started[ids[1]] < min(done[ids[0]], done[ids[1]])
    assert started[ids[2]] > min(done[ids[0]], done[ids[1]])


def test_server_data_policy_gates_jobs(tmp_path: Path, tiny_model: Path) -> None:
    policy = {"pii": "fail", "dedup": True}
    with ft_server(tmp_path, tiny_model, data=policy) as srv, worker(srv.ft):
        client = srv.sdk()
        rows = chat_rows(12)
        dup = client.fine_tuning.jobs.create(
            model="tiny", training_file=upload(client, rows + rows[:3])
        )
        rows[2]["messages"][1]["content"] = "call me on +44 20 7946 0958, jane.doe@example.com"
        pii = client.fine_tuning.jobs.create(model="tiny", training_file=upload(client, rows))
        pii = wait_for(client, pii.id, finished, timeout=120)
        wait_for(client, dup.id, lambda j: j.status != "validating_files", timeout=120)
        said = messages(client, dup.id)
        client.fine_tuning.jobs.cancel(dup.id)  # its training is not what this test is about
    assert pii.status == "failed" and pii.error.code == "pii_found"
    assert pii.error.param == "training_file" and "serve.fine_tuning.data.pii" in pii.error.message
    assert "Data policy removed 3 exact duplicate(s); kept in the dataset's rejects file" in said
    assert any(m.startswith("Dataset version ") and "12 training examples" in m for m in said)
