"""Bad input to the files and jobs routes: an OpenAI-shaped 4xx naming the field, nothing kept,
nothing lost. The unmodified SDK sees each as the error class OpenAI's would raise."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from ft_helpers import chat_rows
from ft_server import ft_server

openai = pytest.importorskip("openai")


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path):
    tmp = tmp_path_factory.mktemp("fterr")
    with ft_server(tmp, tiny_model, max_upload_mb=0.05) as server:
        yield server


def _stored(srv) -> list[str]:
    folder = srv.ft.files.folder
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _upload_error(srv, name: str, content: bytes, purpose: str = "fine-tune") -> dict:
    before = _stored(srv)
    with pytest.raises(openai.APIStatusError) as err:
        srv.sdk().files.create(file=(name, io.BytesIO(content)), purpose=purpose)
    assert _stored(srv) == before  # nothing half-written left behind
    body = err.value.body
    assert set(body) >= {"message", "type", "param", "code"}
    return {"status": err.value.status_code, **body}


def test_not_jsonl(srv) -> None:
    e = _upload_error(srv, "train.csv", b"a,b\n1,2\n")
    assert (e["status"], e["param"]) == (400, "file")
    assert e["message"] == "Invalid file format for Fine-Tuning API. Must be .jsonl"
    e = _upload_error(srv, "train.jsonl", b'{"messages": []}\nnot json\n')
    assert e["code"] == "invalid_file_format" and "Line 2 is not valid JSON" in e["message"]


def test_invalid_utf8(srv) -> None:
    e = _upload_error(srv, "train.jsonl", jsonl(chat_rows(2)) + b'{"x": "\xff\xfe"}\n')
    assert (e["status"], e["param"]) == (400, "file")
    assert "Line 3 is not valid UTF-8" in e["message"]


def test_over_size_upload_refused_while_streaming(srv) -> None:
    big = jsonl(chat_rows(1)) * 1000  # ~240 kB over a 50 kB cap
    e = _upload_error(srv, "train.jsonl", big)
    assert (e["status"], e["code"], e["param"]) == (413, "file_too_large", "file")

    # Without a Content-Length the cap still holds: the body is refused as it streams in.
    def chunks():
        for _ in range(100):
            yield jsonl(chat_rows(1)) * 10

    boundary = "tw-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.jsonl"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()

    def body():
        yield head
        yield from chunks()
        yield f"\r\n--{boundary}--\r\n".encode()

    r = httpx.post(
        srv.url + "/v1/files",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 413 and r.json()["error"]["param"] == "file"
    assert not [p for p in srv.ft.files.folder.iterdir() if p.name.startswith(".upload")]


def test_missing_purpose_and_file_names_are_labels(srv) -> None:
    r = httpx.post(srv.url + "/v1/files", files={"file": ("t.jsonl", jsonl(chat_rows(1)))})
    assert r.status_code == 400 and r.json()["error"]["param"] == "purpose"
    up = srv.sdk().files.create(
        file=("../../etc/passwd.jsonl", io.BytesIO(jsonl(chat_rows(10)))), purpose="fine-tune"
    )
    assert up.filename == "passwd.jsonl"
    stored = srv.ft.files.get(up.id)
    assert Path(stored.path).parent == srv.ft.files.folder and Path(stored.path).name == up.id


def _create_error(srv, **kw) -> dict:
    with pytest.raises(openai.APIStatusError) as err:
        srv.sdk().fine_tuning.jobs.create(**kw)
    return {"status": err.value.status_code, **err.value.body}


def test_job_for_missing_file_other_purpose_unknown_model(srv) -> None:
    client = srv.sdk()
    good = client.files.create(
        file=("t.jsonl", io.BytesIO(jsonl(chat_rows(10)))), purpose="fine-tune"
    )
    other = client.files.create(
        file=("b.jsonl", io.BytesIO(b'{"custom_id": 1}\n')), purpose="batch"
    )
    e = _create_error(srv, model="tiny", training_file="file-nope")
    assert (e["status"], e["param"], e["code"]) == (400, "training_file", "file_not_found")
    e = _create_error(srv, model="tiny", training_file=good.id, validation_file="file-gone")
    assert e["param"] == "validation_file"
    e = _create_error(srv, model="tiny", training_file=other.id)
    assert (e["param"], e["code"]) == ("training_file", "invalid_file_purpose")
    assert "purpose 'batch'" in e["message"]
    e = _create_error(srv, model="gpt-9", training_file=good.id)
    assert (e["status"], e["param"], e["code"]) == (400, "model", "model_not_available")
    assert "This server fine-tunes: tiny" in e["message"]
    e = _create_error(srv, model="tiny", training_file=good.id, hyperparameters={"n_epochs": 0})
    assert e["param"] == "hyperparameters.n_epochs"
    e = _create_error(srv, model="tiny", training_file=good.id, suffix="x" * 65)
    assert e["param"] == "suffix"
    e = _create_error(srv, model="tiny", training_file=good.id, method={"type": "reinforcement"})
    assert e["param"] == "method.type"
    r = httpx.post(srv.url + "/v1/fine_tuning/jobs", json={"training_file": good.id})
    assert r.status_code == 400
    assert r.json()["error"] == {
        "message": "Missing required parameter: 'model'.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "missing_required_parameter",
    }
    assert client.fine_tuning.jobs.list(limit=100).data == []  # no job made by any of these


def test_unknown_ids_are_404(srv) -> None:
    client = srv.sdk()
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-nope")
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.list_events("ftjob-nope")
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-nope")
    with pytest.raises(openai.NotFoundError):
        client.files.delete("file-nope")


def test_cli_sees_api_jobs(srv) -> None:
    from typer.testing import CliRunner

    from tunewise.cli import app

    client = srv.sdk()
    good = client.files.create(
        file=("t.jsonl", io.BytesIO(jsonl(chat_rows(10)))), purpose="fine-tune"
    )
    job = client.fine_tuning.jobs.create(model="tiny", training_file=good.id)  # no worker here
    runner = CliRunner()
    shown = runner.invoke(app, ["jobs", "--db", srv.db_url, "show", job.id])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["status"] == "validating_files"
    cancelled = runner.invoke(app, ["jobs", "--db", srv.db_url, "cancel", job.id])
    assert cancelled.exit_code == 0, cancelled.output
    assert client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    again = runner.invoke(app, ["jobs", "--db", srv.db_url, "cancel", job.id])
    assert again.exit_code == 6 and "already cancelled" in again.output
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.pause(job.id)
    assert err.value.code == "invalid_job_state"
