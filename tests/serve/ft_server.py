"""A `tunewise serve` with the fine-tuning API on a loopback port, and workers in threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Imported whole before any worker thread starts: the openai SDK looks at `sys.modules["httpx"]`
# on every request, and a worker thread importing httpx meanwhile (through the training stack)
# shows it a half-initialised module ("partially initialized module 'httpx'").
import httpx  # noqa: F401

from tunewise.serve.testing import ServerThread

TRAIN = {"compute_dtype": "float32", "num_threads": 1, "max_length": 64, "batch_size": 4}


@dataclass
class FtServer:
    server: ServerThread
    db_url: str
    ft: Any  # FineTuning

    @property
    def url(self) -> str:
        return self.server.url

    def sdk(self, **kw: Any) -> Any:
        import openai

        return openai.OpenAI(base_url=self.url + "/v1", api_key="anything", max_retries=0, **kw)


def ft_config(tmp: Path, tiny_model: Path, *, chat: bool = False, **fine_tuning: Any) -> Any:
    """`serve.fine_tuning` on the tiny model; with `chat`, a local upstream serving its adapters."""
    from tunewise.serve.config import ServeConfig

    upstreams = {"laptop": {"kind": "local", "base": str(tiny_model), "max_tokens": 16}}
    raw = {
        "dir": str(tmp / "ft"),
        "bases": {"tiny": str(tiny_model)},
        "train": dict(TRAIN),
        "poll_s": 0.05,
        **fine_tuning,
    }
    return ServeConfig.model_validate(
        {"fine_tuning": raw, "upstreams": upstreams if chat else {}, "flags_ttl_s": 30}
    )


@contextmanager
def ft_server(
    tmp: Path, tiny_model: Path, *, chat: bool = False, **fine_tuning: Any
) -> Iterator[FtServer]:
    from tunewise.serve.app import create_app
    from tunewise.serve.finetune.service import FineTuning

    db_url = f"sqlite:///{tmp / 'tunewise.db'}"
    cfg = ft_config(tmp, tiny_model, chat=chat, **fine_tuning)
    with ServerThread(create_app(cfg, db_url=db_url)) as server:
        yield FtServer(server, db_url, FineTuning(db_url, cfg.fine_tuning))


@contextmanager
def worker(ft: Any, concurrency: int = 1) -> Iterator[Any]:
    """A worker in a thread (its training processes are real subprocesses)."""
    from tunewise.serve.finetune.worker import Worker

    stop = threading.Event()
    w = Worker(ft, concurrency)
    thread = threading.Thread(target=w.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield w
    finally:
        stop.set()
        thread.join(180)


def wait_for(client: Any, job_id: str, done: Callable[[Any], bool], timeout: float = 240) -> Any:
    """Poll like the seeds do until `done(job)`; the job."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if done(job):
            return job
        if time.monotonic() > deadline:
            events = [e.message for e in client.fine_tuning.jobs.list_events(job_id, limit=100)]
            raise AssertionError(f"job {job_id} still {job.status}; events: {events[:12]}")
        time.sleep(0.1)


def finished(job: Any) -> bool:
    return job.status in ("succeeded", "failed", "cancelled")
