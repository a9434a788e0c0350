"""`tunewise worker`: takes fine-tuning jobs from the store and trains them, N at a time, in order.

Each tick it gives back the jobs of workers that are gone (queue.py), validates the jobs waiting
in `validating_files` (here, in this process), then claims queued jobs while it has free slots
and starts one training process per job (runner.py). A thread checks in with the store every few
seconds, so a long validation never makes this worker look dead. Stopping (SIGTERM, Ctrl-C)
asks its training processes to stop at their next step; their jobs are requeued and continue
from their checkpoints on the next worker.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tunewise.serve.finetune import queue
from tunewise.serve.finetune.service import FineTuning
from tunewise.serve.finetune.tables import ApiJobRow
from tunewise.serve.finetune.validate import validate_job
from tunewise.store import transaction

log = logging.getLogger("tunewise.worker")
ORPHAN_CHECK_S = 5.0


@dataclass
class Child:
    job_id: str
    process: subprocess.Popen[bytes]
    log_path: Path


class Worker:
    """One worker process: at most `concurrency` training processes at a time."""

    def __init__(self, ft: FineTuning, concurrency: int = 1) -> None:
        self.ft = ft
        self.concurrency = concurrency
        self.children: dict[str, Child] = {}
        self.id = ""
        self.spare: subprocess.Popen[bytes] | None = None
        self._last_orphan_check = 0.0

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set, then stop the training processes and requeue their jobs."""
        self.id = queue.register_worker(self.ft.engine, self.concurrency)
        beat = threading.Thread(target=self._beat, args=(stop,), daemon=True, name="heartbeat")
        beat.start()
        self.spare = self._warm_process()
        self.warm_up()
        log.info("worker %s: up to %d job(s) at a time", self.id, self.concurrency)
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # a store hiccup or a bug: log it, keep serving the queue
                    log.exception("worker %s: tick failed", self.id)
                    stop.wait(1.0)
                stop.wait(self.ft.cfg.poll_s)
        finally:
            self.shutdown()

    def tick(self) -> None:
        self.reap()
        if time.monotonic() - self._last_orphan_check > ORPHAN_CHECK_S:
            self._last_orphan_check = time.monotonic()
            for orphan in queue.give_back_orphans(self.ft.engine, self.ft.cfg.lease_s):
                log.warning("job %s given back: its worker is gone", orphan)
        while checking := queue.claim(self.ft.engine, self.id, "validating_files"):
            validate_job(self.ft, checking)
        while len(self.children) < self.concurrency:
            queued = queue.claim(self.ft.engine, self.id, "queued")
            if queued is None:
                break
            try:
                self.start(queued)
            except Exception:  # could not start a process: back to the queue, for a later try
                queue.release(
                    self.ft.engine, queued, expect=("running",), status="queued", holder=self.id
                )
                raise

    def warm_up(self) -> None:
        """Validate a made-up file once per base now, so the first job finds the data stage's
        code, templates and each base's tokenizer loaded."""
        import tempfile

        from tunewise.serve.finetune.checks import check_file
        from tunewise.serve.finetune.dataset import build_dataset

        rows = [
            {"messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": "hi"}]}
            for i in range(10)
        ]  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="tunewise-warmup-") as tmp:
            sample = Path(tmp) / "training.jsonl"
            sample.write_text("".join(json.dumps(r) + "\n" for r in rows))
            check_file(sample, param="training_file", method="supervised", min_examples=10)
            for i, base in enumerate(sorted(set(self.ft.cfg.bases.values()))):
                try:
                    build_dataset(
                        sample, None, Path(tmp) / f"ds{i}", base=base, policy=self.ft.cfg.data,
                        min_examples=10,
                    )  # fmt: skip
                except Exception as exc:  # the job that needs it will fail with the reason
                    log.warning("warming up for base %s failed: %s", base, exc)

    def _command(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tunewise.serve.finetune.runner",
            *args,
            "--db",
            self.ft.db_url,
            "--parent",
            str(os.getpid()),
            "--worker",
            self.id,
        ]

    def _warm_process(self) -> subprocess.Popen[bytes]:
        """A training process that imports torch and the trainer now and waits for a job id."""
        self.ft.folder.mkdir(parents=True, exist_ok=True)
        with open(self.ft.folder / "runner-warmup.log", "ab") as fh:
            # Its own session: a Ctrl-C meant for the worker must not kill training mid-step.
            return subprocess.Popen(
                self._command(
                    "--stdin", *(f"--warm={b}" for b in sorted(set(self.ft.cfg.bases.values())))
                ),
                stdin=subprocess.PIPE,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self, job_id: str) -> None:
        with transaction(self.ft.engine) as s:
            api = s.get(ApiJobRow, job_id)
            assert api is not None
            log_path = Path(api.workdir) / "train.log"
        proc = self.spare
        self.spare = None
        if proc is not None and proc.poll() is None and proc.stdin is not None:
            try:
                proc.stdin.write(job_id.encode() + b"\n")
                proc.stdin.close()
            except OSError:  # it died meanwhile: start a fresh one below
                proc = None
        else:
            proc = None
        if proc is None:
            with open(log_path, "ab") as fh:
                proc = subprocess.Popen(
                    self._command(job_id),
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        self.children[job_id] = Child(job_id, proc, log_path)
        log.info("job %s: training in process %d (log %s)", job_id, proc.pid, log_path)
        self.spare = self._warm_process()

    def reap(self) -> None:
        """Collect finished training processes; one that died without a word fails its job."""
        for job_id, child in list(self.children.items()):
            code = child.process.poll()
            if code is None:
                continue
            del self.children[job_id]
            tail = _tail(child.log_path)
            message = (
                f"The job failed: the training process exited with code {code} "
                f"(log: {child.log_path}){': ' + tail if tail else ''}"
            )
            if queue.release(
                self.ft.engine,
                job_id,
                expect=("running", "pausing"),
                status="failed",
                holder=self.id,
                error={"code": "training_process_died", "message": message, "param": None},
                events=(("error", message),),
            ):
                log.error("job %s: %s", job_id, message)

    def shutdown(self, grace_s: float = 120.0) -> None:
        """Ask running jobs to stop at their next step (requeued), wait, then check out."""
        if self.children:
            queue.interrupt_own(self.ft.engine, self.id, "requeue")
            deadline = time.monotonic() + grace_s
            while self.children and time.monotonic() < deadline:
                self.reap()
                time.sleep(0.2)
            for child in self.children.values():
                child.process.terminate()
                child.process.wait(30)
            self.children.clear()
        if self.spare is not None and self.spare.stdin is not None:
            self.spare.stdin.close()  # an empty line: the warm process exits
            try:
                self.spare.wait(10)
            except subprocess.TimeoutExpired:
                self.spare.kill()
            self.spare = None
        if self.id:
            queue.heartbeat(self.ft.engine, self.id, stopped=True)
            queue.give_back_orphans(self.ft.engine, self.ft.cfg.lease_s)

    def _beat(self, stop: threading.Event) -> None:
        interval = min(5.0, self.ft.cfg.lease_s / 4)
        while not stop.wait(interval):
            try:
                queue.heartbeat(self.ft.engine, self.id)
            except Exception:  # a store hiccup: the next beat tries again
                log.exception("worker heartbeat failed")


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])[-600:]


def run_worker(ft: FineTuning, concurrency: int, *, stop: threading.Event | None = None) -> None:
    """Run a worker in this process until SIGTERM / Ctrl-C (or `stop`), then stop cleanly."""
    import signal

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    Worker(ft, concurrency).run(stop)
