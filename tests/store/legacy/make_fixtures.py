"""Writes the legacy fixtures with the code of the release that had two databases (7b845fa).

    python tests/store/legacy/make_fixtures.py

Checks that release's `src/` (and its registry test helpers) out of git into a temporary
folder, and runs it to write `registry.db` and `jobs.db` here, as that release left them in
`.tunewise/`, plus `expected.json`: what the release's own API read back from them. The import
test (tests/store/test_legacy_import.py) checks the one database gives back the same.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

RELEASE = "7b845fa"
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]

GENERATE = r"""
import json, os, sys
from pathlib import Path

root, out = Path(sys.argv[1]), Path(sys.argv[2])
from registry_helpers import GOLDEN, gate, make_adapter, make_dataset
from tunewise.registry import Registry
from tunewise.train.jobs import JobStore

ds = make_dataset(root / "data")
names = ["m1", "m2", "m3"]
with Registry(f"sqlite:///{out / 'registry.db'}") as reg:
    reg.register_dataset(ds, by="ana")
    for i, name in enumerate(names):
        reg.register_model(make_adapter(root / "runs", name, ds, seed=i), by="ana")
    reg.register_job("openai", provider_job_id="ftjob-hosted1", status="succeeded", by="ana")
    reg.register_model(provider_model_id="ft:gpt-4o-mini:acme::p1", base="gpt-4o-mini", by="ana")
    reg.record_gate(gate("m1", "base"), feature="support", by="ana")
    reg.promote("m1", "support", reason="first", by="ana")
    reg.record_gate(gate("m2", "m1"), feature="support", by="bo")
    reg.promote("m2", "support", reason="better", by="bo")
    reg.rollback("support", reason="regression", by="ana")
    reg.record_eval("m3", golden_sha256=GOLDEN, variant="m3", metrics={"exact_match": 0.5}, by="bo")
    reg.promote("m3", "support", alias="canary", force=True, reason="try it", by="bo")
    reg.deprecate("m2", reason="regressed", by="ana")
    registry = {
        "models": reg.list_models(),
        "datasets": reg.list_datasets(),
        "history": reg.history("support"),
        "canary": reg.history("support", "canary"),
        "lineage": {m: reg.lineage(m, verify=False) for m in names + ["ft:gpt-4o-mini:acme::p1"]},
    }

store = JobStore(out / "jobs.db")
done = store.create(method="lora", base="smollm2-135m", data="/data/v1", out="/adapters/a1",
                    config={"epochs": 2, "learning_rate": 0.001, "lora": {"r": 8}})
store.set_status(done.id, "validating_files", pid=os.getpid())
store.event(done.id, "Validated training file: 40 rows")
store.set_status(done.id, "running")
for step in range(1, 7):
    store.event(done.id, f"Step {step}/6: training loss={1.5 - step * 0.1:.2f}", type="metrics",
                data={"step": step, "train_loss": 1.5 - step * 0.1, "total_steps": 6})
    if step % 2 == 0:
        store.add_checkpoint(done.id, step, f"/adapters/a1/checkpoints/step-{step}",
                             {"step": step, "train_loss": 1.5 - step * 0.1})
store.set_status(done.id, "succeeded", result={"out": "/adapters/a1", "metrics": {"steps": 6}},
                 trained_tokens=4321)
store.event(done.id, "The job has successfully completed: /adapters/a1")
failed = store.create(method="dpo", base="smollm2-135m", data="/data/prefs", out="/adapters/d1",
                      config={"method": "dpo"})
store.set_status(failed.id, "failed", error={"code": "invalid_file", "message": "line 3: bad",
                                             "param": None})
store.event(failed.id, "Job failed: line 3: bad", level="error")
cancelled = store.create(method="full", base="smollm2-135m", data="/data/v1", out="/full/f1",
                         config={})
store.request_cancel(cancelled.id)
jobs = store.list_jobs(limit=100)
expected = {
    "registry": registry,
    "jobs": [j.to_json() for j in jobs],
    "events": {j.id: store.events(j.id, limit=1000) for j in jobs},
    "checkpoints": {j.id: [c.__dict__ for c in store.checkpoints(j.id)] for j in jobs},
}
(out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        release = Path(tmp) / "release"
        release.mkdir()
        paths = ["src", "tests/registry/registry_helpers.py"]
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", RELEASE, *paths], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(release)], input=archive, check=True)
        for name in ("registry.db", "jobs.db", "expected.json"):
            (HERE / name).unlink(missing_ok=True)
        env_path = f"{release / 'src'}:{release / 'tests' / 'registry'}"
        subprocess.run(
            [sys.executable, "-c", GENERATE, str(Path(tmp) / "artifacts"), str(HERE)],
            check=True,
            env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin", "TUNEWISE_USER": "ci"},
        )
    print(f"wrote registry.db, jobs.db and expected.json in {HERE} with release {RELEASE}")


if __name__ == "__main__":
    main()
