"""Fine-tuning API soak: create-to-running on an idle worker, then N queued jobs on the tiny model.

    python bench/ft_api_soak.py [--jobs 100] [--idle 5] [--baseline 3]

The gateway (files + fine-tuning routes) runs in its own process and `tunewise worker
--concurrency 1` in another, on one SQLite store; the unmodified openai SDK drives them as the
seeds do (upload, create, poll). Figures:
- create -> running: POST /v1/fine_tuning/jobs while the worker is idle (no CPU used by it or its
  warm training process for 2 s), then GET every 20 ms until the job is `running`;
- the soak: N jobs (each its own upload) created at once: all must succeed, none be lost, start in
  creation order; the server's RSS is sampled throughout (flat: no growth with the jobs served);
- baseline: the same job run by hand (`tunewise train` in a fresh process), its wall time against
  the API's time per job in the soak.
Writes bench/results/ft_api_soak.json with the CPU model.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from machine import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ft_api_soak.json"
sys.path.insert(0, str(ROOT / "tests" / "serve"))
TRAIN = {"compute_dtype": "float32", "num_threads": 1, "max_length": 64, "batch_size": 4}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_only(config: str, db: str, port: int) -> None:
    """The gateway process: create_app from the config's serve section, under uvicorn."""
    import uvicorn

    from tunewise.config import load_config
    from tunewise.serve.app import create_app

    app = create_app(load_config(Path(config)).serve, db_url=db)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc, self.every = psutil.Process(pid), every
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop.wait(self.every):
            self.samples.append((time.monotonic() - t0, self.proc.memory_info().rss / 2**20))


def rows_file(seed: int) -> bytes:
    from ft_helpers import chat_rows

    return "".join(json.dumps(r) + "\n" for r in chat_rows(12, seed=seed)).encode()


def create(client: Any, seed: int) -> Any:
    up = client.files.create(
        file=(f"t{seed}.jsonl", io.BytesIO(rows_file(seed))), purpose="fine-tune"
    )
    return client.fine_tuning.jobs.create(
        model="tiny", training_file=up.id, hyperparameters={"n_epochs": 1}
    )


def wait(client: Any, job_id: str, statuses: tuple[str, ...], poll: float, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses or time.monotonic() > deadline:
            return job
        time.sleep(poll)


def wait_idle(pid: int, timeout: float = 600) -> None:
    """Until the worker and its processes (the warm training process importing torch) rest."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        before = sum(sum(p.cpu_times()[:2]) for p in procs)
        time.sleep(2)
        after = sum(sum(p.cpu_times()[:2]) for p in procs if p.is_running())
        if after - before < 0.1:  # under 5% of one core over 2 s
            return


def idle_latencies(client: Any, n: int, worker_pid: int) -> list[float]:
    """POST /fine_tuning/jobs -> status running, with the worker idle (its warm process ready)."""
    out = []
    for i in range(n):
        wait_idle(worker_pid)
        up = client.files.create(
            file=(f"idle{i}.jsonl", io.BytesIO(rows_file(10_000 + i))), purpose="fine-tune"
        )
        t0 = time.perf_counter()
        job = client.fine_tuning.jobs.create(
            model="tiny", training_file=up.id, hyperparameters={"n_epochs": 1}
        )
        job = wait(client, job.id, ("running", "succeeded", "failed"), 0.02, 120)
        out.append(time.perf_counter() - t0)
        wait(client, job.id, ("succeeded", "failed", "cancelled"), 0.5, 600)
    return out


def soak(client: Any, n: int, sampler: RssSampler) -> dict[str, Any]:
    t0 = time.perf_counter()
    created = [create(client, i).id for i in range(n)]
    rss_after_create = sampler.samples[-1][1] if sampler.samples else None
    pending = set(created)
    while pending:
        time.sleep(2)
        for job in client.fine_tuning.jobs.list(limit=100):
            if job.id in pending and job.status in ("succeeded", "failed", "cancelled"):
                pending.discard(job.id)
    wall = time.perf_counter() - t0
    final = {j.id: j for j in client.fine_tuning.jobs.list(limit=100) if j.id in set(created)}
    started = {}
    for job_id in created:
        for e in client.fine_tuning.jobs.list_events(job_id, limit=100):
            if e.message == "Fine-tuning job started":
                started[job_id] = int(e.id.split("-")[1])
    order = sorted(created, key=lambda j: started.get(j, 1 << 62))
    return {
        "jobs": n,
        "succeeded": sum(j.status == "succeeded" for j in final.values()),
        "lost": n - len(final),
        "started_in_creation_order": order == created,
        "wall_s": round(wall, 1),
        "s_per_job": round(wall / n, 2),
        "rss_after_creating_mib": rss_after_create,
    }


def baseline(tmp: Path, tiny: Path, runs: int) -> list[float]:
    """The same job by hand: `tunewise train` on the same kind of dataset, a fresh process each."""
    from ft_helpers import chat_rows, write_jsonl

    from tunewise.serve.finetune.config import DataPolicy
    from tunewise.serve.finetune.dataset import build_dataset

    train = write_jsonl(tmp / "training.jsonl", chat_rows(12))
    data = tmp / "baseline-ds"
    build_dataset(train, None, data, base=str(tiny), policy=DataPolicy(), min_examples=10)
    walls = []
    for i in range(runs):
        cmd = [sys.executable, "-m", "tunewise", "train", "--data", str(data), "--base", str(tiny),
               "--epochs", "1", "--batch-size", "4", "--max-length", "64", "--threads", "1",
               "--dtype", "float32", "--out", str(tmp / f"baseline-{i}"), "--no-progress"]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(
            cmd,
            check=True,
            capture_output=True,
            env={**os.environ, "TUNEWISE_HOME": str(tmp / "bstate")},
        )
        walls.append(time.perf_counter() - t0)
    return walls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--idle", type=int, default=5)
    parser.add_argument("--baseline", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--_serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._serve:
        serve_only(args._serve[0], args._serve[1], int(args._serve[2]))
        return
    import openai
    import yaml

    from tunewise.models import make_tiny_model

    mach = machine()  # "load_avg_at_start": the key earlier results used
    result: dict[str, Any] = {"machine": {**mach, "load_avg_at_start": mach["load_avg"]},
                              "train": TRAIN}  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="tw-ft-soak-"))
    tiny = make_tiny_model(tmp / "tiny")
    db = f"sqlite:///{tmp / 'tunewise.db'}"
    ft = {"dir": str(tmp / "ft"), "bases": {"tiny": str(tiny)}, "train": TRAIN, "poll_s": 0.1}
    (tmp / "tunewise.yaml").write_text(yaml.safe_dump({"serve": {"fine_tuning": ft}}))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--_serve", str(tmp / "tunewise.yaml"), db, str(port)]
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "tunewise", "worker", "--config", "tunewise.yaml", "--db", db],
        cwd=tmp,
    )
    client = openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="anything", max_retries=5
    )
    try:
        for _ in range(300):
            try:
                client.fine_tuning.jobs.list(limit=1)
                break
            except openai.APIConnectionError:
                time.sleep(0.2)
        sampler = RssSampler(server.pid)
        sampler.start()
        lat = idle_latencies(client, args.idle, worker.pid)
        result["create_to_running_s"] = {
            "runs": [round(x, 3) for x in lat],
            "median": round(statistics.median(lat), 3),
            "max": round(max(lat), 3),
        }
        print("create -> running:", result["create_to_running_s"], flush=True)
        rss_before = sampler.samples[-1][1]
        result["soak"] = soak(client, args.jobs, sampler)
        rss = [r for _, r in sampler.samples]
        result["soak"]["server_rss_mib"] = {
            "before_soak": round(rss_before, 1),
            "max": round(max(rss), 1),
            "end": round(rss[-1], 1),
            "growth_per_job_kib": round((rss[-1] - rss_before) * 1024 / args.jobs, 1),
            "every_minute": [round(r, 1) for t, r in sampler.samples if int(t) % 60 == 0],
        }
        print("soak:", result["soak"], flush=True)
    finally:
        worker.terminate()
        worker.wait(300)
        server.terminate()
        server.wait(30)
    walls = baseline(tmp, tiny, args.baseline)
    result["baseline_tunewise_train_s"] = {
        "runs": [round(w, 1) for w in walls],
        "median": round(statistics.median(walls), 1),
    }
    result["command"] = "python bench/ft_api_soak.py " + " ".join(sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
