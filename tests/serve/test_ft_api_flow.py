"""The seeds' four steps with the unmodified openai SDK against tunewise: upload, create, poll
until succeeded, and everything a client reads on the way (events, checkpoints, lists)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from ft_helpers import chat_rows
from ft_server import finished, ft_server, wait_for, worker

pytest.importorskip("openai")


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def test_upload_create_poll_succeeded(tmp_path: Path, tiny_model: Path) -> None:
    # flags_ttl_s is 30 s: the model must answer because the gateway rereads the registry on a miss.
    with ft_server(tmp_path, tiny_model, chat=True) as srv, worker(srv.ft):
        client = srv.sdk()
        up = client.files.create(
            file=("train.jsonl", io.BytesIO(jsonl(chat_rows(12)))), purpose="fine-tune"
        )
        assert up.status == "processed" and up.filename == "train.jsonl"
        job = client.fine_tuning.jobs.create(
            training_file=up.id, model="tiny", suffix="support", hyperparameters={"n_epochs": 2}
        )
        assert job.status == "validating_files" and job.training_file == up.id
        job = wait_for(client, job.id, finished)
        assert job.status == "succeeded", job.error
        assert job.fine_tuned_model == f"ft:tiny:tunewise:support:{job.id[-8:]}"
        assert job.hyperparameters.n_epochs == 2
        assert job.trained_tokens and job.finished_at
        raw = client.chat.completions.with_raw_response.create(
            model=job.fine_tuned_model,
            messages=[{"role": "user", "content": "question 3 about my refund"}],
            max_tokens=8,
        )
        assert raw.headers["x-tunewise-model"] == job.fine_tuned_model
        assert raw.parse().choices[0].message.content is not None

        events = [e for e in client.fine_tuning.jobs.list_events(job.id, limit=5)]  # auto-pages
        messages = [e.message for e in reversed(events)]
        for expected in (
            f"Validating training file: {up.id}",
            "Files validated, moving job to queued state",
            "Fine-tuning job started",
            f"New fine-tuned model created: {job.fine_tuned_model}",
            "The job has successfully completed",
        ):
            assert expected in messages
        assert messages.index("Fine-tuning job started") < messages.index(
            "The job has successfully completed"
        )
        metrics = [e for e in events if e.type == "metrics"]
        assert metrics and {"step", "train_loss", "valid_loss"} <= set(metrics[0].data)
        total = job.hyperparameters.n_epochs * 3  # 12 rows in batches of 4
        assert re.fullmatch(rf"Step \d+/{total}: training loss=\d+\.\d+.*", metrics[0].message)

        (results,) = job.result_files
        csv_text = client.files.content(results).text
        assert csv_text.startswith("step,train_loss,valid_loss\n")
        assert len(csv_text.splitlines()) == job.hyperparameters.n_epochs * 3 + 1  # 12 rows / 4

        checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
        assert checkpoints and checkpoints[0].step_number >= checkpoints[-1].step_number
        assert checkpoints[0].fine_tuned_model_checkpoint.startswith(
            job.fine_tuned_model + ":ckpt-step-"
        )
        assert checkpoints[0].metrics.train_loss is not None

    from tunewise.registry import Registry

    with Registry(srv.db_url) as reg:
        lineage = reg.lineage(job.fine_tuned_model, verify=False)
    manifest = json.loads(
        (tmp_path / "ft" / "jobs" / job.id / "dataset" / "manifest.json").read_text()
    )
    assert lineage["dataset"]["manifest_sha256"] is not None
    assert (
        manifest["inputs"][0]["sha256"]
        == __import__("hashlib").sha256(jsonl(chat_rows(12))).hexdigest()
    )
