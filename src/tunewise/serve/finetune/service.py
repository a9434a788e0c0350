"""The fine-tuning API's operations on the store: create, read, list, cancel, pause and resume
jobs, their events and checkpoints. The routers are thin over this; the worker trains.

Each operation is one transaction. State changes that race with a worker (cancel, pause) lock
the job's row first and are conditional on the status they start from, so a worker finishing a
job and a client cancelling it cannot both win.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tunewise.serve.errors import InvalidRequest, NotFound
from tunewise.serve.finetune.config import FineTuningConfig
from tunewise.serve.finetune.files import FileStore
from tunewise.serve.finetune.objects import checkpoint_object, event_object, job_object, page
from tunewise.serve.finetune.requests import JobCreate, train_settings
from tunewise.serve.finetune.tables import ApiJobRow
from tunewise.store import get_engine, transaction
from tunewise.train.tables import CheckpointRow, EventRow, JobRow

ACTIVE = ("validating_files", "queued", "running", "pausing", "paused")


def now() -> int:
    return int(time.time())


def add_event(
    s: Any,
    job_id: str,
    message: str,
    level: str = "info",
    type: str = "message",
    data: dict[str, Any] | None = None,
) -> None:
    s.add(
        EventRow(
            job_id=job_id, created_at=now(), level=level, type=type, message=message, data=data
        )
    )


def job_row(s: Any, job_id: str, *, lock: bool = False) -> JobRow | None:
    """The job store's row of a job by id (its primary key is `seq`)."""
    query = select(JobRow).where(JobRow.id == job_id)
    return s.scalar(query.with_for_update() if lock else query)


def model_name(model: str, organization: str, suffix: str | None, job_id: str) -> str:
    """OpenAI's `ft:{base}:{org}:{suffix}:{id}` (an empty suffix leaves `::`)."""
    return f"ft:{model}:{organization}:{suffix or ''}:{job_id.rsplit('-', 1)[-1][-8:]}"


def no_such_job(job_id: str) -> NotFound:
    return NotFound(
        f"No such fine-tuning job: {job_id}", param="fine_tuning_job_id", code="job_not_found"
    )


class FineTuning:
    """Files and jobs of the fine-tuning API in the store `db_url` names."""

    def __init__(self, db_url: str, cfg: FineTuningConfig) -> None:
        from tunewise.paths import state_dir
        from tunewise.train.config import TrainConfig

        self.db_url = db_url
        self.engine = get_engine(db_url)
        self.cfg = cfg
        self.folder = Path(cfg.dir) if cfg.dir else state_dir() / "fine_tuning"
        self.files = FileStore(self.engine, self.folder / "files")
        self.defaults = TrainConfig.model_validate(cfg.train)  # bad server settings fail at start

    # ---- jobs ------------------------------------------------------------------------------------

    def create(self, req: JobCreate, organization: str) -> dict[str, Any]:
        """Record a job in `validating_files` with hard links to its files; 4xx if it cannot be."""
        base = self.cfg.bases.get(req.model)
        if base is None:
            known = ", ".join(sorted(self.cfg.bases)) or "none"
            raise InvalidRequest(
                f"Model {req.model} is not available for fine-tuning or does not exist. This "
                f"server fine-tunes: {known} (map more names in serve.fine_tuning.bases)",
                param="model",
                code="model_not_available",
            )
        raw = train_settings(
            req, base, self.cfg.train, self.cfg.supervised_method
        )  # checks hyperparameters
        job_id = "ftjob-" + uuid.uuid4().hex[:20]
        work = self.folder / "jobs" / job_id
        self._link(req.training_file, "training_file", work / "training.jsonl")
        if req.validation_file:
            self._link(req.validation_file, "validation_file", work / "validation.jsonl")
        hyper = req.hyper().model_dump(exclude_none=True)
        kind = req.method_type()
        stamp = now()
        job = JobRow(
            id=job_id,
            created_at=stamp,
            updated_at=stamp,
            status="validating_files",
            backend="api",
            method=raw["method"],
            base=base,
            data=str(work / "dataset"),
            out=str(work / "model"),
            config=raw,
            cancel_requested=False,
        )
        api = ApiJobRow(
            job_id=job_id,
            organization=organization,
            model=req.model,
            training_file=req.training_file,
            validation_file=req.validation_file,
            suffix=req.suffix,
            seed=raw["seed"],
            method={"type": kind, kind: {"hyperparameters": hyper}},
            meta=req.metadata,
            fine_tuned_model=model_name(req.model, organization, req.suffix, job_id),
            workdir=str(work),
        )
        with transaction(self.engine) as s:
            s.add(job)
            s.flush()  # the job row first: the others reference it
            s.add(api)
            add_event(s, job_id, f"Created fine-tuning job: {job_id}")
            add_event(s, job_id, f"Validating training file: {req.training_file}")
            if req.validation_file:
                add_event(s, job_id, f"Validating validation file: {req.validation_file}")
        return job_object(job, api)

    def _link(self, file_id: str, param: str, dest: Path) -> None:
        """Give the job its own link to the file, so deleting the file cannot take its data."""
        try:
            row = self.files.get(file_id, param)
        except NotFound as exc:  # a bad reference in the body: a 400 naming the field
            raise InvalidRequest(exc.message, param=param, code="file_not_found") from None
        if row.purpose != "fine-tune":
            raise InvalidRequest(
                f"File {file_id} has purpose '{row.purpose}'; fine-tuning needs a file "
                "uploaded with purpose=fine-tune",
                param=param,
                code="invalid_file_purpose",
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(row.path, dest)
        except FileNotFoundError:
            raise InvalidRequest(  # deleted between the lookup and the link
                f"No such File object: {file_id}", param=param, code="file_not_found"
            ) from None
        except OSError:  # another filesystem: copy instead
            shutil.copyfile(row.path, dest)

    def get(self, job_id: str) -> dict[str, Any]:
        with transaction(self.engine) as s:
            job, api = self._rows(s, job_id)
            return job_object(job, api)

    def _rows(self, s: Any, job_id: str, *, lock: bool = False) -> tuple[JobRow, ApiJobRow]:
        query = select(JobRow, ApiJobRow).join(ApiJobRow, ApiJobRow.job_id == JobRow.id)
        if lock:
            query = query.with_for_update()
        found = s.execute(query.where(JobRow.id == job_id)).first()
        if found is None:
            raise no_such_job(job_id)
        return found[0], found[1]

    def list(
        self, *, after: str | None, limit: int, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Jobs newest first; `after` is the last job id of the previous page."""
        query = select(JobRow, ApiJobRow).join(ApiJobRow, ApiJobRow.job_id == JobRow.id)
        if after:
            anchor = select(JobRow.seq).where(JobRow.id == after).scalar_subquery()
            query = query.where(JobRow.seq < anchor)
        query = query.order_by(JobRow.seq.desc())
        if not metadata:
            query = query.limit(limit + 1)
        with transaction(self.engine) as s:
            rows = [
                job_object(j, a)
                for j, a in s.execute(query)
                if not metadata or all((a.meta or {}).get(k) == v for k, v in metadata.items())
            ]
        return page(rows[:limit], len(rows) > limit)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancelled at once; a training process sees the flag and stops at its next step."""
        with transaction(self.engine) as s:
            job, api = self._rows(s, job_id, lock=True)
            if job.status not in ACTIVE:
                raise InvalidRequest(
                    f"Job {job_id} is already {job.status}; only a job that has not finished "
                    "can be cancelled",
                    param="fine_tuning_job_id",
                    code="invalid_job_state",
                )
            running = api.worker_id is not None and job.status in ("running", "pausing")
            job.status, job.cancel_requested = "cancelled", True
            job.finished_at = job.updated_at = now()
            if not running:
                api.worker_id = None
            add_event(s, job_id, "Fine-tuning job cancelled", level="warn")
            return job_object(job, api)

    def pause(self, job_id: str) -> dict[str, Any]:
        """A queued job is paused at once; a running one stops at its next step, checkpointed."""
        with transaction(self.engine) as s:
            job, api = self._rows(s, job_id, lock=True)
            if job.status == "queued" and api.worker_id is None:
                job.status = "paused"
                add_event(s, job_id, "Fine-tuning job paused (it had not started)")
            elif job.status == "running":
                job.status, job.cancel_requested, api.interrupt = "pausing", True, "pause"
                add_event(s, job_id, "Pausing: training stops at the next step, checkpointed")
            elif job.status not in ("pausing", "paused"):
                raise InvalidRequest(
                    f"Job {job_id} is {job.status}; only a queued or running job can be paused",
                    param="fine_tuning_job_id",
                    code="invalid_job_state",
                )
            job.updated_at = now()
            return job_object(job, api)

    def resume(self, job_id: str) -> dict[str, Any]:
        """A paused job is queued again; a worker continues it from its checkpoint."""
        with transaction(self.engine) as s:
            job, api = self._rows(s, job_id, lock=True)
            if job.status != "paused":
                raise InvalidRequest(
                    f"Job {job_id} is {job.status}; only a paused job can be resumed",
                    param="fine_tuning_job_id",
                    code="invalid_job_state",
                )
            job.status, job.cancel_requested, job.updated_at = "queued", False, now()
            api.interrupt = api.worker_id = None
            add_event(s, job_id, "Fine-tuning job resumed, moving job to queued state")
            return job_object(job, api)

    # ---- events and checkpoints -----------------------------------------------------------------

    def events(self, job_id: str, *, after: str | None, limit: int) -> dict[str, Any]:
        """Events newest first, as OpenAI lists them; `after` is the last id of the previous page."""
        query = select(EventRow).where(EventRow.job_id == job_id)
        if after:
            try:
                seq = int(after.rsplit("-", 1)[-1])
            except ValueError:
                raise InvalidRequest(
                    f"'{after}' is not an event id (ftevent-N)", param="after"
                ) from None
            query = query.where(EventRow.seq < seq)
        query = query.order_by(EventRow.seq.desc()).limit(limit + 1)
        with transaction(self.engine) as s:
            self._rows(s, job_id)
            rows = [event_object(e) for e in s.scalars(query)]
        return page(rows[:limit], len(rows) > limit)

    def checkpoints(self, job_id: str, *, after: str | None, limit: int) -> dict[str, Any]:
        """Checkpoints newest first; `after` is a checkpoint id."""
        with transaction(self.engine) as s:
            _, api = self._rows(s, job_id)
            rows = list(
                s.scalars(
                    select(CheckpointRow)
                    .where(CheckpointRow.job_id == job_id)
                    .order_by(CheckpointRow.step.desc(), CheckpointRow.created_at.desc())
                )
            )
        data = [checkpoint_object(c, api.fine_tuned_model) for c in rows]
        if after:
            ids = [c["id"] for c in data]
            data = data[ids.index(after) + 1 :] if after in ids else []
        return page(data[:limit], len(data) > limit)
