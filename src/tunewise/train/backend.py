"""One training interface: a `TrainingBackend` Protocol and the registry of backends.

The CLI (and later the pipeline) only talk to this shape: submit a `TrainRequest`, read status and
events, cancel. The local backend trains in this process; hosted backends (Bedrock in
`bedrock_backend.py`, OpenAI in `openai_backend.py`) register here the same way the local one does, through
`register_backend`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tunewise.errors import ConfigError, DataError, JobError, TunewiseError
from tunewise.train.config import TrainConfig
from tunewise.train.jobs import TERMINAL, Job, JobStore


@dataclass
class TrainRequest:
    """What to train: a dataset folder, a base model, a config, and where to write the result."""

    data: Path
    config: TrainConfig
    out: Path | None = None
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class TrainingBackend(Protocol):
    """A place where fine-tuning jobs run."""

    name: str

    def submit(self, request: TrainRequest) -> Job:
        """Start a job; a local backend may run it to completion before returning."""
        ...

    def status(self, job_id: str) -> Job: ...

    def events(
        self, job_id: str, after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...

    def cancel(self, job_id: str) -> Job: ...


_BACKENDS: dict[str, Callable[..., TrainingBackend]] = {}
# Built-in backends living in their own modules: imported (and so registered) when first asked for,
# which keeps their SDKs off `import tunewise`.
_BUILTIN_MODULES = {
    "bedrock": "tunewise.train.bedrock_backend",
    "openai": "tunewise.train.openai_backend",
    "api": "tunewise.serve.finetune.backend",
}


def register_backend(name: str, factory: Callable[..., TrainingBackend]) -> None:
    """Make a backend available by name (built-ins use this too)."""
    _BACKENDS[name] = factory


def get_backend(name: str = "local", **kwargs: Any) -> TrainingBackend:
    if name not in _BACKENDS and name in _BUILTIN_MODULES:
        import importlib

        importlib.import_module(_BUILTIN_MODULES[name])
    if name not in _BACKENDS:
        available = ", ".join(sorted({*_BACKENDS, *_BUILTIN_MODULES}))
        raise ConfigError(f"unknown training backend '{name}'; available: {available}")
    return _BACKENDS[name](**kwargs)


def backend_for_job(job_id: str, store: JobStore | None = None) -> TrainingBackend:
    """The backend that runs a stored job (for jobs show / events / cancel / --resume)."""
    store = store or JobStore()
    return get_backend(store.get(job_id).backend, store=store)


class LocalBackend:
    """Trains on this machine, in this process, recording the lifecycle in the job store."""

    name = "local"

    def __init__(self, store: JobStore | None = None) -> None:
        self.store = store or JobStore()

    def submit(self, request: TrainRequest) -> Job:
        """Record the job and train it to the end in this process."""
        return self.run(self.create(request).id, progress=request.progress)

    def create(self, request: TrainRequest) -> Job:
        """Record a job without starting it, so a caller can note its id first (see `run`)."""
        cfg = request.config
        out = (
            request.out or Path("adapters") / f"{request.data.name}-{cfg.method}-{int(time.time())}"
        )
        job = self.store.create(
            method=cfg.method,
            base=cfg.base,
            data=str(request.data.resolve()),
            out=str(Path(out).resolve()),
            config=cfg.model_dump(mode="json"),
        )
        return job

    def run(
        self,
        job_id: str,
        progress: bool = True,
        on_eval: Callable[[int, float], None] | None = None,
    ) -> Job:
        """Train a created job to the end in this process; `on_eval(n, valid_loss)` is called after
        each validation evaluation (a search prunes a trial by cancelling its job there)."""
        return self._run(job_id, resume=False, progress=progress, on_eval=on_eval)

    def resume(self, job_id: str, progress: bool = True) -> Job:
        """Continue a job from its last checkpoint (after a crash, kill or cancel)."""
        job = self.store.get(job_id)
        if job.status == "succeeded":
            raise JobError(f"job {job_id} already succeeded; its output is in {job.out}")
        if job.status not in TERMINAL and job.pid is not None:  # alive: the store fails the others
            raise JobError(
                f"job {job_id} is {job.status} in process {job.pid}; cancel it first "
                f"(tunewise jobs cancel {job_id})"
            )
        return self._run(job_id, resume=True, progress=progress)

    def status(self, job_id: str) -> Job:
        return self.store.get(job_id)

    def events(
        self, job_id: str, after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return self.store.events(job_id, after=after, limit=limit)

    def cancel(self, job_id: str) -> Job:
        return self.store.request_cancel(job_id)

    def _run(
        self,
        job_id: str,
        *,
        resume: bool,
        progress: bool,
        on_eval: Callable[[int, float], None] | None = None,
    ) -> Job:
        from tunewise.train.run import run_job

        store = self.store
        store.reopen(job_id, os.getpid()) if resume else store.set_status(
            job_id, "validating_files", pid=os.getpid()
        )
        try:
            run_job(store, job_id, resume=resume, progress=progress, on_eval=on_eval)
        except JobError as exc:
            if str(exc) == "cancelled":
                store.set_status(job_id, "cancelled")
                store.event(job_id, "Job cancelled", level="warn")
                return store.get(job_id)
            _fail(store, job_id, exc)
            raise
        except (TunewiseError, Exception) as exc:
            _fail(store, job_id, exc)
            raise
        except KeyboardInterrupt:
            store.set_status(
                job_id,
                "failed",
                error={
                    "code": "interrupted",
                    "message": "interrupted; resume with --resume",
                    "param": None,
                },
            )
            raise
        return store.get(job_id)


def _fail(store: JobStore, job_id: str, exc: BaseException) -> None:
    code = "invalid_file" if isinstance(exc, DataError) else type(exc).__name__
    store.set_status(job_id, "failed", error={"code": code, "message": str(exc), "param": None})
    store.event(job_id, f"Job failed: {exc}", level="error")


register_backend("local", LocalBackend)
