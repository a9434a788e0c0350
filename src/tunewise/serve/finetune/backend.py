"""The `api` training backend: jobs created through the fine-tuning API, seen from the CLI.

`tunewise jobs show | events | cancel` and `tunewise train --resume` find a job's backend by
name; jobs made by `POST /v1/fine_tuning/jobs` carry `api`. They are created over HTTP and
trained by `tunewise worker`, so `submit` points there; cancel takes the API's path (the worker's
training process stops at its next step) and `--resume` resumes a paused job.
"""

from __future__ import annotations

from typing import Any

from tunewise.errors import JobError
from tunewise.serve.errors import ApiError
from tunewise.train.backend import TrainRequest, register_backend
from tunewise.train.jobs import Job, JobStore


class ApiBackend:
    """Fine-tuning API jobs in the job store (trained by `tunewise worker`)."""

    name = "api"

    def __init__(self, store: JobStore | None = None) -> None:
        self.store = store or JobStore()

    def _service(self) -> Any:
        from tunewise.serve.finetune.config import FineTuningConfig
        from tunewise.serve.finetune.service import FineTuning

        return FineTuning(self.store.url, FineTuningConfig())

    def submit(self, request: TrainRequest) -> Job:
        raise JobError(
            "fine-tuning API jobs are created over HTTP (POST /v1/fine_tuning/jobs on tunewise "
            "serve) and trained by tunewise worker; use --backend local to train here"
        )

    def status(self, job_id: str) -> Job:
        return self.store.get(job_id)

    def events(
        self, job_id: str, after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return self.store.events(job_id, after=after, limit=limit)

    def cancel(self, job_id: str) -> Job:
        try:
            self._service().cancel(job_id)
        except ApiError as exc:
            raise JobError(exc.message) from None
        return self.store.get(job_id)

    def resume(self, job_id: str, progress: bool = True) -> Job:
        """Queue a paused job again; a worker continues it from its checkpoint."""
        try:
            self._service().resume(job_id)
        except ApiError as exc:
            raise JobError(exc.message) from None
        return self.store.get(job_id)


register_backend("api", ApiBackend)
