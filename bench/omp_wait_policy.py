"""OpenMP wait policy for training and generation: torch's spinning default against PASSIVE.

    python bench/omp_wait_policy.py [--steps 8] [--repeat 2] [--burners 2]

torch's OpenMP threads spin between parallel regions (OMP_WAIT_POLICY unset, i.e. ACTIVE-like):
fast when the process has the cores to itself, wasteful when other work shares them, because a
spinning thread holds a core the others need. `tunewise monitor` already sets PASSIVE; this measures
whether training and generation should too. Each measurement is a fresh subprocess (OpenMP reads the
variable once, at load), with the same inputs:

  train     a local training job (LocalBackend, as `tunewise train` submits it; not the CLI, which
            picks the policy itself) on the quickstart's dataset (prepared once, regex PII), LoRA,
            `--steps` optimizer steps, rehearsal off; the figure is the training loop's own time
            from the adapter manifest (`train_time_s`), model loading excluded
  generate  tunewise.infer.generate: 16 golden prompts of the quickstart, 24 new tokens, batch 16

under two conditions: `idle` (nothing else running) and `loaded` (`--burners` busy-looping Python
processes beside it, as on a shared machine). Rounds alternate the policies so drift hits both.
Writes bench/results/omp_wait_policy.json with the CPU model and the load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "omp_wait_policy.json"
EXAMPLE = ROOT / "examples" / "support-intent"
POLICIES = ("default", "PASSIVE")

GENERATE = """
import json, sys, time
from tunewise.infer import generate
cases = [json.loads(x) for x in open(sys.argv[1], encoding="utf-8")][:16]
msgs = [c["messages"] for c in cases]
generate(msgs[:2], "smollm2-135m", max_new_tokens=2, batch_size=2)  # warm-up: load the model
t0 = time.perf_counter()
generate(msgs, "smollm2-135m", max_new_tokens=24, batch_size=16)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def env_for(policy: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    return env


def tunewise() -> list[str]:
    return [sys.executable, "-m", "tunewise"]


def prepare(folder: Path) -> Path:
    out = folder / "dataset"
    cmd = [*tunewise(), "data", "prepare", "-c", str(EXAMPLE / "tunewise.yaml"), "--out", str(out),
           "--set", "data.pii.engine=regex", "--quiet"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, cwd=EXAMPLE)
    return out


TRAIN = """
import sys
from pathlib import Path
from tunewise.train.backend import LocalBackend, TrainRequest
from tunewise.train.config import TrainConfig
cfg = TrainConfig(max_steps=int(sys.argv[3]), rehearsal={"enabled": False})
LocalBackend().submit(TrainRequest(Path(sys.argv[1]), cfg, Path(sys.argv[2]), progress=False))
"""


def train_once(dataset: Path, folder: Path, policy: str, steps: int) -> float:
    """The API, not the CLI: the CLI would choose the policy itself (tunewise.threads)."""
    out = folder / f"adapter-{time.monotonic_ns()}"
    env = {**env_for(policy), "TUNEWISE_HOME": str(folder / "home")}
    cmd = [sys.executable, "-c", TRAIN, str(dataset), str(out), str(steps)]
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return float(json.loads((out / "manifest.json").read_text())["metrics"]["train_time_s"])


def generate_once(policy: str) -> float:
    golden = EXAMPLE / "data" / "golden.jsonl"
    done = subprocess.run([sys.executable, "-c", GENERATE, str(golden)], check=True,
                          capture_output=True, text=True, env=env_for(policy))  # fmt: skip
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def burners(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--burners", type=int, default=2)
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args()
    results: dict[str, dict[str, dict[str, list[float]]]] = {}
    loads = {"start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="tw-omp-") as tmp:
        folder = Path(tmp)
        dataset = prepare(folder)
        for condition in ("idle", "loaded"):
            procs = burners(a.burners) if condition == "loaded" else []
            try:
                time.sleep(2 if procs else 0)
                runs = results.setdefault(condition, {})
                for r in range(a.repeat):
                    order = POLICIES if r % 2 == 0 else tuple(reversed(POLICIES))
                    for policy in order:
                        got = runs.setdefault(policy, {"train_s": [], "generate_s": []})
                        got["train_s"].append(
                            round(train_once(dataset, folder, policy, a.steps), 2)
                        )
                        got["generate_s"].append(round(generate_once(policy), 2))
                        print(condition, policy, got, flush=True)
                loads[condition] = os.getloadavg()
            finally:
                for proc in procs:
                    proc.kill()
    summary = {
        c: {p: {k: statistics.median(v) for k, v in figs.items()} for p, figs in runs.items()}
        for c, runs in results.items()
    }
    ratios = {
        c: {k: round(s["default"][k] / s["PASSIVE"][k], 2) for k in ("train_s", "generate_s")}
        for c, s in summary.items()
    }
    out = {"what": __doc__.split("\n")[0], "command": " ".join(["python", *sys.argv]),
           **machine(), "steps": a.steps, "burners": a.burners,
           "repeat": a.repeat, "load_average": loads, "runs": results, "median": summary,
           "speedup_of_passive": ratios, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}  # fmt: skip
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({"median": summary, "speedup_of_passive": ratios}, indent=2))


if __name__ == "__main__":
    main()
