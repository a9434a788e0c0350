"""Gateway overhead: `tunewise serve` against calling the upstream directly and against
LiteLLM's proxy routing the same model, on this machine.

    python bench/serve_overhead.py --litellm-venv /work/bench-venv-litellm
    python bench/serve_overhead.py --quick            # fewer requests, no LiteLLM

The upstream is bench/fast_upstream.py (raw asyncio, a fixed answer), so what is measured is
what each gateway adds. Each target runs alone (one process, one worker) while a load generator
(raw asyncio HTTP/1.1 keep-alive, in this process) sends non-streamed chat completions:

  latency     one client, N sequential requests after a warm-up: p50 / p99 / mean
  throughput  C concurrent clients for T seconds: requests/s, errors, and the server's CPU time
              per request (all its processes; the figure that load on a shared machine moves least)

tunewise runs as a user runs it: `tunewise serve --config` with a SQLite store, an API key
required and the request log on (10% of text sampled and scrubbed). LiteLLM runs `litellm --config` from its own venv (`pip install 'litellm[proxy]'`; it must
not share the project's venv) with no database and its master key required. Results: bench/results/serve_overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "serve_overhead.json"
API_KEY = "sk-bench-" + "7f3a9c2e5b1d4f6a8c0e2b4d6f8a1c3e5b7d9f1a3c5e7b9d"
"""Every target gets this bearer key: LiteLLM's master key, a tunewise client key."""
BODY = json.dumps(
    {
        "model": "bench-model",
        "messages": [
            {"role": "system", "content": "You are a concise banking support assistant."},
            {"role": "user", "content": "I ordered a new card last week; when will it arrive?"},
        ],
        "max_tokens": 32,
        "user": "user-42",
    }
).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- load generator ----------------------------------------------------------------------------


class Conn:
    """One keep-alive HTTP/1.1 connection; `post` returns (status, seconds)."""

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.request = (
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
            f"authorization: Bearer {API_KEY}\r\ncontent-length: {len(BODY)}\r\n\r\n"
        ).encode() + BODY

    async def post(self) -> tuple[int, float]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        t0 = time.perf_counter()
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length, chunked, close = None, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
            elif name == b"connection" and value == b"close":
                close = True
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await self.reader.readexactly(length or 0)
        elapsed = time.perf_counter() - t0
        if close:
            await self.close()
        return status, elapsed

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def latency(port: int, path: str, n: int, warmup: int) -> dict[str, Any]:
    conn = Conn(port, path)
    for _ in range(warmup):
        await conn.post()
    times, errors = [], 0
    for _ in range(n):
        status, t = await conn.post()
        errors += status != 200
        times.append(t * 1000)
    await conn.close()
    times.sort()
    return {
        "requests": n,
        "errors": errors,
        "p50_ms": round(times[n // 2], 3),
        "p99_ms": round(times[min(n - 1, int(n * 0.99))], 3),
        "mean_ms": round(statistics.fmean(times), 3),
    }


async def throughput(port: int, path: str, clients: int, seconds: float) -> dict[str, Any]:
    done, errors = 0, 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done, errors
        conn = Conn(port, path)
        while time.perf_counter() < stop:
            try:
                status, _ = await conn.post()
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                await conn.close()
                continue
            done += 1
            errors += status != 200
        await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - t0
    return {"clients": clients, "seconds": round(wall, 2), "requests": done, "errors": errors,
            "requests_per_s": round(done / wall, 1)}  # fmt: skip


# ---- targets -----------------------------------------------------------------------------------


def wait_ready(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see its log")
        try:
            status, _ = asyncio.run(Conn(port, path).post())
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server on {port} not ready after {timeout}s")


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                            start_new_session=True)  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by every process in a process group."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of stat: the process group
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(name: str, port: int, path: str, pgid: int, args: argparse.Namespace) -> dict[str, Any]:
    lat = asyncio.run(latency(port, path, args.requests, args.warmup))
    cpu0 = group_cpu_s(pgid)
    thr = asyncio.run(throughput(port, path, args.clients, args.seconds))
    thr["server_cpu_ms_per_request"] = round(
        1000 * (group_cpu_s(pgid) - cpu0) / max(1, thr["requests"]), 3
    )
    print(f"{name:>9}: p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, "
          f"{thr['requests_per_s']:.0f} req/s ({thr['errors']} errors), "
          f"{thr['server_cpu_ms_per_request']:.2f} ms CPU/request", flush=True)  # fmt: skip
    return {
        "latency": lat,
        "throughput": thr,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def tunewise_target(tmp: Path, upstream: int) -> tuple[list[str], dict[str, str], int]:
    port = free_port()
    cfg = {"serve": {"port": port, "upstreams": {"fast": {
        "kind": "openai", "base_url": f"http://127.0.0.1:{upstream}/v1", "models": ["bench-model"],
        "max_tokens": 256}}}}  # fmt: skip
    (tmp / "tunewise.yaml").write_text(json.dumps(cfg))
    url = f"sqlite:///{tmp / 'tunewise.db'}"
    sys.path.insert(0, str(ROOT / "src"))
    from tunewise.serve.keys import create_key
    from tunewise.store import get_engine

    create_key(get_engine(url), "bench", by="bench", key=API_KEY)  # authentication on, as deployed
    cmd = [
        sys.executable,
        "-m",
        "tunewise",
        "serve",
        "--config",
        str(tmp / "tunewise.yaml"),
        "--db",
        url,
    ]
    return cmd, {"PYTHONPATH": str(ROOT / "src")}, port


def log_rows(url: str) -> int:
    """Rows tunewise's request log holds after the run (every request should have one)."""
    from sqlalchemy import func, select

    from tunewise.serve.tables import RequestLogRow
    from tunewise.store import get_engine, transaction

    with transaction(get_engine(url)) as s:
        return int(s.scalar(select(func.count()).select_from(RequestLogRow)) or 0)


def litellm_target(tmp: Path, upstream: int, venv: Path) -> tuple[list[str], dict[str, str], int]:
    port = free_port()
    cfg = (
        "model_list:\n  - model_name: bench-model\n    litellm_params:\n"
        f"      model: openai/bench-model\n      api_base: http://127.0.0.1:{upstream}/v1\n"
        "      api_key: sk-upstream\nlitellm_settings:\n  telemetry: false\n  drop_params: true\n"
        f"general_settings:\n  master_key: {API_KEY}\n"
    )
    (tmp / "litellm.yaml").write_text(cfg)
    cmd = [str(venv / "bin" / "litellm"), "--config", str(tmp / "litellm.yaml"), "--port", str(port),
           "--host", "127.0.0.1", "--num_workers", "1"]  # fmt: skip
    env = {"LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False", "DISABLE_SCHEMA_UPDATE": "True"}
    return cmd, env, port


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--litellm-venv", type=Path, default=None, help="venv with litellm[proxy] installed"
    )
    p.add_argument("--requests", type=int, default=2000, help="sequential requests for latency")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--clients", type=int, default=32, help="concurrent clients for throughput")
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--quick", action="store_true", help="300 requests, 5 s, no LiteLLM")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    if args.quick:
        args.requests, args.warmup, args.seconds, args.litellm_venv = 300, 50, 5.0, None
    result: dict[str, Any] = {
        "command": "python bench/serve_overhead.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "request": json.loads(BODY),
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        up_port = free_port()
        upstream = start(
            [sys.executable, str(ROOT / "bench" / "fast_upstream.py"), str(up_port)],
            tmp / "upstream.log",
        )
        try:
            wait_ready(up_port, "/v1/chat/completions", upstream)
            result["direct"] = measure(
                "direct", up_port, "/v1/chat/completions", upstream.pid, args
            )
            targets = [("tunewise", *tunewise_target(tmp, up_port))]
            if args.litellm_venv:
                targets.append(("litellm", *litellm_target(tmp, up_port, args.litellm_venv)))
            for name, cmd, env, port in targets:
                proc = start(cmd, tmp / f"{name}.log", env)
                try:
                    wait_ready(port, "/v1/chat/completions", proc)
                    result[name] = measure(name, port, "/v1/chat/completions", proc.pid, args)
                except RuntimeError as exc:
                    sys.exit(f"{name}: {exc}\n{(tmp / f'{name}.log').read_text()[-3000:]}")
                finally:
                    stop(proc)
            if "tunewise" in result:
                result["tunewise"]["request_log_rows"] = log_rows(
                    f"sqlite:///{tmp / 'tunewise.db'}"
                )
        finally:
            stop(upstream)
    direct = result["direct"]["latency"]
    for name in ("tunewise", "litellm"):
        if name in result:
            lat = result[name]["latency"]
            result[name]["added_p50_ms"] = round(lat["p50_ms"] - direct["p50_ms"], 3)
            result[name]["added_p99_ms"] = round(lat["p99_ms"] - direct["p99_ms"], 3)
    if "litellm" in result:
        result["tunewise_vs_litellm"] = {
            "requests_per_s_ratio": round(result["tunewise"]["throughput"]["requests_per_s"]
                                          / result["litellm"]["throughput"]["requests_per_s"], 2),
            "added_p50_ratio": round(result["tunewise"]["added_p50_ms"] / result["litellm"]["added_p50_ms"], 2),
            "added_p99_ratio": round(result["tunewise"]["added_p99_ms"] / result["litellm"]["added_p99_ms"], 2),
        }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "request"}, indent=2))


if __name__ == "__main__":
    main()
