"""`tunewise monitor` on 100,000 logged requests: wall time, where it goes, embedding throughput.

    python bench/monitor.py                     # 100k requests -> bench/results/monitor.json
    python bench/monitor.py --requests 20000    # a quicker run

The traffic is the support-intent replay (examples/support-intent/replay_traffic.py): 14 days,
week 2 drifted, prompt and answer text on 10% of rows (the gateway's default sampling). The
training data is the example's dataset version (`tunewise data prepare`, regex PII engine).

Measured, in one process:
  monitor_cold   run_monitor over the whole log, training embeddings not cached yet
  monitor_warm   the same again (training embeddings from the cache): the cron case
  all_prompts    the baseline: the same run embedding every sampled prompt, so the sampled
                 verdict (AUC) can be compared with the unsampled one, and its cost seen

The machine is shared with other work: the load average before and after is recorded, and each
run's CPU seconds (user + system) next to its wall time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from machine import machine

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "support-intent"
RESULTS = ROOT / "bench" / "results" / "monitor.json"


def _replay() -> Any:
    spec = importlib.util.spec_from_file_location("replay_traffic", EXAMPLE / "replay_traffic.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prepare(folder: Path) -> tuple[Any, Path]:
    """The example's project config (regex PII) and its prepared dataset version."""
    import yaml
    from typer.testing import CliRunner

    from tunewise.cli import app
    from tunewise.config import load_config

    raw = yaml.safe_load((EXAMPLE / "tunewise.yaml").read_text())
    raw["data"]["inputs"] = [str(EXAMPLE / "data" / "tickets.jsonl")]
    raw["data"]["split"]["golden_file"] = str(EXAMPLE / "data" / "golden.jsonl")
    raw["data"]["pii"]["engine"] = "regex"
    cfg_path = folder / "tunewise.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(
        app, ["data", "prepare", "-c", str(cfg_path), "--out", str(folder / "data")]
    )
    assert result.exit_code == 0, result.output
    return load_config(cfg_path), folder / "data" / "train.jsonl"


def _cpu() -> float:
    """CPU seconds (user + system) of this process: on a shared machine, what the run itself cost."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _run(
    cfg: Any, log: Path, train: Path, start: datetime, end: datetime, out: Path
) -> dict[str, Any]:
    from tunewise.monitor.api import run_monitor
    from tunewise.monitor.requests import JsonlRequests

    t0, c0 = time.perf_counter(), _cpu()
    result = run_monitor("support-intent", cfg, JsonlRequests(log), since=start, until=end,
                         out_dir=out, train=train, record=False)  # fmt: skip
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    r = result.report
    d = r["input_drift"]
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "requests": r["traffic"]["requests"],
            "prompts": d["sample"]["prompts"], "embedded": d["sample"]["embedded"],
            "unique": d["throughput"]["unique"], "embed_texts_per_s": d["throughput"]["texts_per_s"], "embed_s": d["throughput"]["seconds"],
            "training_cache": d["training_cache"]["cache"], "steps_s": r["timings_s"],
            "auc": round(d["classifier"]["auc"], 4), "null_se": round(d["sample"]["null_se_sample"], 4),
            "drifted": d["classifier"]["drifted"], "fired": [f["trigger"] for f in r["triggers"]["fired"]]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--text-share", type=float, default=0.1)
    ap.add_argument("--no-baseline", action="store_true", help="skip the all-prompts run")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="tw-bench-monitor-"))
    os.environ["TUNEWISE_HOME"] = str(work / ".tunewise")  # an empty embedding cache
    from tunewise.threads import prefer_passive_threads

    prefer_passive_threads(always=True)  # as `tunewise monitor` does, before torch loads
    import torch

    torch.set_num_threads(min(2, len(os.sched_getaffinity(0))))
    load_before = os.getloadavg()
    cfg, train = _prepare(work)
    start = datetime(2026, 5, 4, tzinfo=UTC)
    rows = _replay().generate_rows(start, per_day=args.requests // 14, text_share=args.text_share)
    log = work / "requests.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    end = start + timedelta(days=14)
    results: dict[str, Any] = {
        "command": "python bench/monitor.py " + " ".join(sys.argv[1:]),
        "log_rows": len(rows), "log_mb": round(log.stat().st_size / 1e6, 1),
        "embed_sample": cfg.monitor.embed_sample, "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }  # fmt: skip
    results["sample_rule"] = (
        "smallest n with null SE <= 1.1x all-prompts SE, >= 1000, <= embed_sample"
    )
    results["monitor_cold"] = _run(cfg, log, train, start, end, work / "cold")
    results["monitor_warm"] = _run(cfg, log, train, start, end, work / "warm")
    if not args.no_baseline:
        everything = cfg.model_copy(
            update={
                "monitor": cfg.monitor.model_copy(
                    update={"embed_sample": 10**9, "sample_tolerance": 0.0}
                )
            }
        )
        results["all_prompts"] = _run(everything, log, train, start, end, work / "all")
    results["loadavg_before"], results["loadavg_after"] = load_before, os.getloadavg()
    from tunewise.train.modeling import cpu_has_native_bf16

    results["machine"] = {**machine(), "native_bf16": cpu_has_native_bf16()}
    results["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
