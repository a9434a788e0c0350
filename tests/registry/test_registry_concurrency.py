"""Concurrent promotes and rollbacks from real processes leave a consistent alias history."""

from __future__ import annotations

import itertools
import multiprocessing as mp
from pathlib import Path

from registry_helpers import churn, gate, make_adapter, make_dataset

from tunewise.registry import Registry

PROCS, OPS = 4, 10
MODELS = ["c0", "c1", "c2", "c3"]


def _setup(url: str, root: Path) -> None:
    ds = make_dataset(root / "data")
    with Registry(url) as reg:
        for i, name in enumerate(MODELS):
            reg.register_model(make_adapter(root / "runs", name, ds, seed=i))
        for cand in MODELS:  # every candidate passes against the base and every other model
            reg.record_gate(gate(cand, "base"), feature="support")
            for ref in MODELS:
                if ref != cand:
                    reg.record_gate(gate(cand, ref), feature="support")


def _run_and_check(url: str, root: Path) -> None:
    _setup(url, root)
    ctx = mp.get_context("spawn")
    with ctx.Pool(PROCS) as pool:
        results = pool.starmap(
            churn, [(url, MODELS, "support", OPS, seed) for seed in range(PROCS)]
        )
    assert sum(sum(r.values()) for r in results) == PROCS * OPS
    changes = sum(r["promote"] + r["rollback"] for r in results)
    with Registry(url) as reg:
        history = reg.history("support")
        holder = reg.holder("support")
    assert len(history) == changes > 0
    assert history[0]["previous"] is None
    for before, after in itertools.pairwise(history):
        assert after["previous"] == before["model"], f"broken chain at event {after['id']}"
    assert holder == history[-1]["model"]
    # Replaying the events as a stack gives the same holder: rollbacks went one step back each.
    stack: list[str] = []
    for e in history:
        if e["action"] == "promote":
            stack.append(e["model"])
        else:
            stack.pop()
            assert stack[-1] == e["model"]
    assert stack[-1] == holder


def test_concurrent_promotes_sqlite(tmp_path: Path) -> None:
    _run_and_check(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path)


def test_concurrent_promotes_postgres(tmp_path: Path, pg_url: str) -> None:
    _run_and_check(pg_url, tmp_path)
