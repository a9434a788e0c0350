"""`tunewise train --backend openai`: jobs on OpenAI's fine-tuning API, mirrored in the job store.

submit: the dataset folder's train and validation rows are uploaded in OpenAI's format
(`purpose=fine-tune`), and a job is created with the method (supervised, or dpo), its
hyperparameters (n_epochs, batch_size, learning_rate_multiplier, beta), suffix and seed; the
tunewise job records the provider's names in `result`. Polling (with backoff) mirrors the
provider's events, checkpoints and status (openai_mirror); on success the `ft:` model is
registered with its dataset and job. Any server speaking the API works through
`train.openai.base_url`, tunewise's own `tunewise serve` included.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunewise.errors import DataError, JobError, TunewiseError
from tunewise.train import openai_client as oc
from tunewise.train.backend import TrainRequest, register_backend
from tunewise.train.config import OpenAIConfig, TrainConfig
from tunewise.train.hosted import Echo, echo_events, register_dataset, registry_call, stderr_echo
from tunewise.train.jobs import TERMINAL, Job, JobStore
from tunewise.train.openai_mirror import mirror

CREATE_ATTEMPTS = 4  # a plain 429 (requests per minute) clears; the daily quota does not


def job_body(cfg: TrainConfig, files: dict[str, str], job_id: str) -> dict[str, Any]:
    """The create-job request for a train config and the uploaded file ids."""
    kind = "dpo" if cfg.method == "dpo" else "supervised"
    hyper: dict[str, Any] = {
        "n_epochs": cfg.epochs,
        "batch_size": cfg.openai.batch_size,
        "learning_rate_multiplier": cfg.openai.learning_rate_multiplier,
    }
    if kind == "dpo":
        hyper["beta"] = cfg.dpo_beta
    body: dict[str, Any] = {
        "model": cfg.openai.model or cfg.base,
        "training_file": files["train"],
        "seed": cfg.seed,
        "method": {"type": kind, kind: {"hyperparameters": hyper}},
        "metadata": {"tunewise_job": job_id},
    }
    if "validation" in files:
        body["validation_file"] = files["validation"]
    if cfg.openai.suffix:
        body["suffix"] = cfg.openai.suffix
    return body


class OpenAIBackend:
    """Fine-tuning jobs on OpenAI (or any server with its API), recorded in tunewise's job store."""

    name = "openai"

    def __init__(
        self,
        store: JobStore | None = None,
        *,
        client: Callable[[OpenAIConfig], Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        registry_url: str | None = None,
    ) -> None:
        self.store = store or JobStore()
        self.make_client = client or oc.make_client
        self.sleep = sleep
        self.registry_url = registry_url

    # ---- the TrainingBackend protocol ---------------------------------------------------------

    def submit(self, request: TrainRequest) -> Job:
        """Upload and create the job; wait for it unless `request.extra['wait']` is False."""
        cfg = request.config
        job = self.store.create(
            method=cfg.method,
            base=cfg.openai.model or cfg.base,
            data=str(request.data.resolve()),
            out=oc.base_url(cfg.openai),
            config=cfg.model_dump(mode="json"),
            backend=self.name,
        )
        try:
            self._start(job.id, request.data, cfg)
        except TunewiseError as exc:
            self._fail(job.id, _code(exc), str(exc))
            raise
        if not request.extra.get("wait", True):
            return self.store.get(job.id)
        return self.wait(job.id, echo=stderr_echo if request.progress else None)

    def status(self, job_id: str) -> Job:
        """The job after one poll of the provider (no call when it already ended)."""
        job = self.store.get(job_id)
        pid = (job.result or {}).get("provider_job_id")
        if job.status in TERMINAL or not pid:
            return job
        cfg = _config(job)
        client = self.make_client(cfg)
        try:
            remote = client.fine_tuning.jobs.retrieve(pid)
            return mirror(self, job, remote, client)
        except Exception as exc:
            raise oc.provider_error(exc, f"reading job {pid}", cfg=cfg) from exc

    def events(
        self, job_id: str, after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        self.status(job_id)
        return self.store.events(job_id, after=after, limit=limit)

    def cancel(self, job_id: str) -> Job:
        """Cancel the provider's job and record the outcome."""
        job = self.store.get(job_id)
        if job.status in TERMINAL:
            raise JobError(f"job {job_id} is already {job.status}; nothing to cancel")
        pid = (job.result or {}).get("provider_job_id")
        if pid:
            cfg = _config(job)
            client = self.make_client(cfg)
            try:
                remote = client.fine_tuning.jobs.cancel(pid)
                job = mirror(self, job, remote, client)
            except Exception as exc:
                raise oc.provider_error(exc, f"cancelling job {pid}", cfg=cfg) from exc
            self.store.event(job_id, f"Cancel requested on the provider for {pid}")
        return job if job.status in TERMINAL else self.store.request_cancel(job_id)

    def resume(self, job_id: str, progress: bool = True) -> Job:
        """Wait again for a job (after Ctrl-C or `--no-wait`); the provider kept it running."""
        job = self.store.get(job_id)
        if job.status in TERMINAL:
            raise JobError(f"job {job_id} already {job.status}; see tunewise jobs show {job_id}")
        return self.wait(job_id, echo=stderr_echo if progress else None)

    # ---- polling --------------------------------------------------------------------------------

    def wait(self, job_id: str, *, echo: Echo | None = None) -> Job:
        """Poll until the job ends: the wait grows 1.5x while nothing changes, 2x on throttling."""
        settings = _config(self.store.get(job_id))
        delay, last, seen = settings.poll_seconds, None, None
        try:
            while True:
                slowed = False
                try:
                    job = self.status(job_id)
                except TunewiseError as exc:
                    if not isinstance(exc.__cause__, Exception) or not oc.transient(exc.__cause__):
                        raise
                    job, slowed = self.store.get(job_id), True
                    self.store.event(job_id, f"Polling slowed: {exc}", level="warn")
                seen = echo_events(self.store, job_id, seen, echo)
                if job.status in TERMINAL:
                    return job
                state = (job.status, (job.result or {}).get("last_event"))
                if slowed:
                    delay *= 2
                else:
                    delay = settings.poll_seconds if state != last else delay * 1.5
                last, delay = state, min(delay, settings.max_poll_seconds)
                self.sleep(delay)
        except KeyboardInterrupt:
            raise JobError(
                f"stopped waiting; job {job_id} keeps running on the provider. Follow it with "
                f"tunewise jobs show {job_id}, wait again with tunewise train --resume {job_id}, "
                f"or stop it with tunewise jobs cancel {job_id}"
            ) from None

    # ---- internals ------------------------------------------------------------------------------

    def _start(self, job_id: str, data: Path, cfg: TrainConfig) -> None:
        client = self.make_client(cfg.openai)
        files = self._upload(job_id, data, cfg.openai, client)
        dataset = register_dataset(self, job_id, data)
        body = job_body(cfg, files, job_id)
        remote = self._create(job_id, body, cfg.openai, client)
        result = {
            "provider": "openai",
            "base_url": oc.base_url(cfg.openai),
            "provider_job_id": remote.id,
            "files": files,
            "dataset_sha256": dataset,
            "request": body,
            "provider_status": None,
        }
        self.store.set_status(job_id, "queued", result=result)
        self.store.event(job_id, f"Created fine-tuning job on {result['base_url']}: {remote.id}")
        registry_call(
            self,
            job_id,
            lambda reg: reg.register_job(
                "openai",
                local_job_id=job_id,
                provider_job_id=remote.id,
                dataset=dataset,
                status="queued",
                config=body,
            ),
        )
        mirror(self, self.store.get(job_id), remote, client)

    def _upload(self, job_id: str, data: Path, cfg: OpenAIConfig, client: Any) -> dict[str, str]:
        """Upload train (and a non-empty validation) file in OpenAI's row format; file ids."""
        from tunewise.artifacts import atomic_write_jsonl
        from tunewise.data.schema import to_openai
        from tunewise.train.data import read_rows

        files: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="tunewise-openai-") as tmp:
            for split in ("train", "validation"):
                src = data / f"{split}.jsonl"
                if not src.is_file():
                    if split == "train":
                        raise DataError(
                            f"{data}: no train.jsonl; pass a folder from tunewise data prepare"
                        )
                    continue
                rows = [to_openai(r) for r in read_rows(src)]
                if not rows:
                    continue
                dst = atomic_write_jsonl(Path(tmp) / f"{data.name}-{split}.jsonl", rows)
                with open(dst, "rb") as fh:
                    try:
                        uploaded = client.files.create(file=(dst.name, fh), purpose="fine-tune")
                    except Exception as exc:
                        raise oc.provider_error(exc, f"uploading {src}", cfg=cfg) from exc
                files[split] = uploaded.id
                self.store.event(
                    job_id, f"Uploaded {split} file ({len(rows)} rows) as {uploaded.id}"
                )
        return files

    def _create(self, job_id: str, body: dict[str, Any], cfg: OpenAIConfig, client: Any) -> Any:
        once = client.with_options(max_retries=0)
        delay = cfg.poll_seconds
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                return once.fine_tuning.jobs.create(**body)
            except Exception as exc:
                refused = oc.refusal(exc, cfg)
                if refused is not None:
                    raise refused from exc
                if not oc.transient(exc) or attempt == CREATE_ATTEMPTS:
                    raise oc.provider_error(exc, "creating the fine-tuning job", cfg=cfg) from exc
                self.store.event(job_id, f"Create refused for now ({exc}); retrying", level="warn")
                self.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _fail(self, job_id: str, code: str, message: str) -> None:
        self.store.set_status(
            job_id, "failed", error={"code": code, "message": message, "param": None}
        )
        self.store.event(job_id, f"Job failed: {message}", level="error")


def _config(job: Job) -> OpenAIConfig:
    return TrainConfig.model_validate(job.config).openai


def _code(exc: TunewiseError) -> str:
    if isinstance(exc, oc.DailyLimitReached):
        return "daily_rate_limit_exceeded"
    if isinstance(exc, oc.JobsRefused):
        return "jobs_refused"
    return "invalid_file" if isinstance(exc, DataError) else "openai_error"


register_backend("openai", OpenAIBackend)
