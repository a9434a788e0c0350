"""`/v1/files` read with the unmodified SDK: list pages (`limit`/`after`/`has_more`), retrieve,
content, delete; a deleted file's data stays with the job made from it; keys as for chat."""

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


def test_list_pages_retrieve_content_delete(tmp_path: Path, tiny_model: Path) -> None:
    with ft_server(tmp_path, tiny_model) as srv:
        client = srv.sdk()
        bodies = [jsonl(chat_rows(10, seed=i)) for i in range(3)]
        ids = [
            client.files.create(file=(f"t{i}.jsonl", io.BytesIO(b)), purpose="fine-tune").id
            for i, b in enumerate(bodies)
        ]
        first = client.files.list(limit=2)
        assert first.object == "list" and first.has_more is True
        assert [f.id for f in first.data] == ids[:0:-1]  # newest first
        rest = client.files.list(limit=2, after=first.data[-1].id)
        assert [f.id for f in rest.data] == [ids[0]] and rest.has_more is False
        assert [f.id for f in client.files.list(limit=1)] == ids[::-1]  # the SDK pages on
        assert [f.id for f in client.files.list(order="asc")] == ids
        assert client.files.list(purpose="batch").data == []

        got = client.files.retrieve(ids[1])
        assert (got.filename, got.bytes, got.purpose) == ("t1.jsonl", len(bodies[1]), "fine-tune")
        assert client.files.content(ids[1]).content == bodies[1]

        job = client.fine_tuning.jobs.create(model="tiny", training_file=ids[2])  # no worker
        deleted = client.files.delete(ids[2])
        assert (deleted.id, deleted.deleted) == (ids[2], True)
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(ids[2])
        assert [f.id for f in client.files.list()] == ids[1::-1]
        # The job's own link keeps the data it will train on.
        linked = tmp_path / "ft" / "jobs" / job.id / "training.jsonl"
        assert linked.read_bytes() == bodies[2]


def test_files_and_jobs_need_a_key_once_one_exists(tmp_path: Path, tiny_model: Path) -> None:
    from typer.testing import CliRunner

    from tunewise.cli import app

    db_url = f"sqlite:///{tmp_path / 'tunewise.db'}"  # the store ft_server uses
    made = CliRunner().invoke(app, ["keys", "create", "trainer", "--db", db_url])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    with ft_server(tmp_path, tiny_model) as srv:
        for method, path in (
            ("GET", "/v1/files"),
            ("POST", "/v1/files"),
            ("GET", "/v1/fine_tuning/jobs"),
            ("POST", "/v1/fine_tuning/jobs"),
            ("GET", "/v1/fine_tuning/jobs/ftjob-x/events"),
        ):
            r = httpx.request(method, srv.url + path)
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["error"]["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            srv.sdk().files.create(
                file=("t.jsonl", io.BytesIO(jsonl(chat_rows(10)))), purpose="fine-tune"
            )
        folder = srv.ft.files.folder
        assert not folder.exists() or not any(folder.iterdir())  # nothing kept
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key=key, max_retries=0)
        up = client.files.create(
            file=("t.jsonl", io.BytesIO(jsonl(chat_rows(10)))), purpose="fine-tune"
        )
        assert client.fine_tuning.jobs.create(model="tiny", training_file=up.id).id
