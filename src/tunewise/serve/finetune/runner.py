"""One claimed job trained in its own process, started by the worker:

    python -m tunewise.serve.finetune.runner JOB_ID --db URL --parent PID --worker WORKER_ID
    python -m tunewise.serve.finetune.runner --stdin --db URL ...   # warm: waits for a job id

Its own process, so a finished job gives its memory back and the worker never blocks on
training. The worker keeps one warm process ahead (`--stdin`): it imports torch and the trainer
while the queue waits (tens of seconds on a busy CPU) and reads its job id from stdin. The training loop checks at every step whether to stop (cancel, pause, the worker
stopping or gone); then the job is cancelled, paused or requeued from its last checkpoint. On
success the adapter is registered under the job's `ft:` name, and the gateway serves it under
that name from then on (it reads the registry, not this process).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tunewise.errors import DataError, JobError
from tunewise.serve.finetune.queue import release
from tunewise.serve.finetune.service import job_row
from tunewise.serve.finetune.tables import ApiJobRow
from tunewise.store import transaction
from tunewise.train.jobs import JobStore
from tunewise.train.tables import JobRow

ACTIVE = ("running", "pausing")


class WatchedStore(JobStore):
    """The job store as the training loop sees it: a stop is also asked for when the worker
    that started this process is gone, or no longer holds the job (then it stops at a step)."""

    def __init__(self, url: str, parent: int | None, worker: str | None) -> None:
        super().__init__(url)
        self.parent, self.worker = parent, worker

    def orphaned(self) -> bool:
        return self.parent is not None and os.getppid() != self.parent

    def cancel_requested(self, job_id: str) -> bool:
        if self.orphaned():
            return True
        with transaction(self.engine) as s:
            row = s.execute(
                select(JobRow.cancel_requested, ApiJobRow.worker_id)
                .join(ApiJobRow, ApiJobRow.job_id == JobRow.id)
                .where(JobRow.id == job_id)
            ).first()
        if row is None:
            return True
        return bool(row[0]) or (self.worker is not None and row[1] != self.worker)


def run(db_url: str, job_id: str, parent: int | None, worker: str | None = None) -> int:
    """Train the job; returns the process exit code."""
    from tunewise.train.config import TrainConfig
    from tunewise.train.run import RunContext, train_folder

    store = WatchedStore(db_url, parent, worker)
    with transaction(store.engine) as s:
        job, api = job_row(s, job_id), s.get(ApiJobRow, job_id)
        assert job is not None and api is not None
        data, out, config, name = Path(job.data), Path(job.out), job.config, api.fine_tuned_model
    cfg = TrainConfig.model_validate(config)
    resume = bool(store.checkpoints(job_id))
    ctx = RunContext(job_id, store, progress=False)
    try:
        result = train_folder(ctx, data, out, cfg, resume=resume)
    except JobError as exc:
        if str(exc) == "cancelled":
            return stopped(store, job_id)
        return failed(store, job_id, exc)
    except Exception as exc:
        return failed(store, job_id, exc)
    if store.cancel_requested(job_id):  # asked for after the last step: honour it
        return stopped(store, job_id)
    try:
        from tunewise.registry import Registry

        with Registry(db_url) as reg:
            reg.register_model(out, name=name)
    except Exception as exc:
        return failed(store, job_id, exc, code="registry_error")
    release(
        store.engine,
        job_id,
        expect=ACTIVE,
        holder=store.worker,
        api_fields={"result_file": results_file(store.engine, job_id, out)},
        status="succeeded",
        result=result,
        trained_tokens=result.get("tokens_trained"),
        events=(
            ("info", f"New fine-tuned model created: {name}"),
            ("info", "The job has successfully completed"),
        ),
    )
    return 0


def results_file(engine: Any, job_id: str, out: Path) -> str | None:
    """The job's step metrics as a `fine-tune-results` file (OpenAI's `result_files`)."""
    import csv
    import io
    import json

    from tunewise.serve.finetune.files import RESULTS, FileStore

    curves = out / "curves.json"
    if not curves.is_file():
        return None
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["step", "train_loss", "valid_loss"])
    for p in json.loads(curves.read_text()).get("points", []):
        writer.writerow([p.get("step"), p.get("train_loss"), p.get("valid_loss")])
    with transaction(engine) as s:
        api = s.get(ApiJobRow, job_id)
        assert api is not None
        folder, org = Path(api.workdir).parent.parent / "files", api.organization
    return FileStore(engine, folder).add_generated(
        text.getvalue().encode(), "step_metrics.csv", RESULTS, org
    )


def stopped(store: WatchedStore, job_id: str) -> int:
    """The loop stopped at a step: cancelled, paused, or requeued for another worker."""
    with transaction(store.engine) as s:
        job, api = job_row(s, job_id), s.get(ApiJobRow, job_id)
        assert job is not None and api is not None
        status, interrupt = job.status, api.interrupt
    cks = store.checkpoints(job_id)
    at = f"its checkpoint at step {cks[-1].step}" if cks else "the start (no checkpoint yet)"
    if status == "pausing" or interrupt == "pause":
        release(
            store.engine,
            job_id,
            expect=ACTIVE,
            holder=store.worker,
            status="paused",
            events=(("info", f"Fine-tuning job paused; resuming continues from {at}"),),
        )
    elif interrupt == "requeue" or store.orphaned():
        release(
            store.engine,
            job_id,
            expect=ACTIVE,
            holder=store.worker,
            status="queued",
            events=(("warn", f"Worker stopping; job requeued, it continues from {at}"),),
        )
    else:  # cancelled (by the API, or `tunewise jobs cancel`): the state says so already
        release(store.engine, job_id, expect=ACTIVE, status="cancelled", holder=store.worker)
    return 0


def failed(
    store: WatchedStore, job_id: str, exc: BaseException, code: str = "training_failed"
) -> int:
    traceback.print_exc()  # into the job's train.log
    param = None
    if isinstance(exc, DataError):  # e.g. every row longer than max_length: nothing to learn
        code, param = "invalid_training_file", "training_file"
        message = f"The job failed due to an invalid training file. {exc}"
    else:
        message = f"The job failed: {type(exc).__name__}: {exc}"
    release(
        store.engine,
        job_id,
        expect=ACTIVE,
        holder=store.worker,
        status="failed",
        error={"code": code, "message": message, "param": param},
        events=(("error", message),),
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tunewise.serve.finetune.runner")
    parser.add_argument("job_id", nargs="?")
    parser.add_argument("--stdin", action="store_true", help="warm up, then read the job id")
    parser.add_argument("--warm", action="append", default=[], help="a base to warm up for")
    parser.add_argument("--db", required=True)
    parser.add_argument("--parent", type=int, default=None)
    parser.add_argument("--worker", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    job_id = args.job_id
    if args.stdin:
        warm_up(args.warm)
        job_id = sys.stdin.readline().strip()
        if not job_id:
            return 0  # the worker stopped before it needed this process
        _log_to(job_id, args.db)
    if not job_id:
        parser.error("a job id, or --stdin")
    return run(args.db, job_id, args.parent, args.worker)


def warm_up(bases: list[str]) -> None:
    """Ahead of the job: import torch, transformers, peft, the trainer and matplotlib (for the
    loss curve), and for each base the server trains, its tokenizer and its model class (whose
    module transformers imports lazily). Seconds on an idle CPU, tens on a busy one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    import tunewise.train.run
    import tunewise.train.trainer  # noqa: F401
    from tunewise.models import resolve_base

    for base in bases:
        try:
            folder = resolve_base(base)
            transformers.AutoTokenizer.from_pretrained(folder)
            MODEL_FOR_CAUSAL_LM_MAPPING[type(transformers.AutoConfig.from_pretrained(folder))]
        except Exception as exc:  # the job itself will say what is wrong with the base
            print(f"warm-up of {base} skipped: {exc}", file=sys.stderr)


def _log_to(job_id: str, db_url: str) -> None:
    """From now on, this process writes to the job's train.log."""
    from tunewise.store import get_engine

    with transaction(get_engine(db_url)) as s:
        api = s.get(ApiJobRow, job_id)
        workdir = Path(api.workdir) if api is not None else None
    if workdir is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(workdir / "train.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


if __name__ == "__main__":
    sys.exit(main())
