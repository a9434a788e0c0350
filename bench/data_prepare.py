"""Benchmark `tunewise data prepare` on synthetic chat rows (10k, 50k, 100k) with dedup and PII on.

    python bench/data_prepare.py            # 10k, 50k, 100k rows -> bench/results/data_prepare.json
    python bench/data_prepare.py --quick    # 2k and 5k rows, for a smoke run

Each size runs in a fresh subprocess so peak memory (ru_maxrss) belongs to that run alone. The rows
are deterministic (seeded): varied support tickets with ~2% exact duplicates, ~2% near-duplicates
and ~2% PII (emails, phones, cards). PII uses the regex engine: Presidio is measured apart, on a
sample, because at tens of rows/s it cannot fit a 100k-row run in minutes. Baselines from the same
script: datasketch at its fastest (all rows' shingles hashed in one `MinHash.bulk` call, then
MinHashLSH insert/query) against `find_duplicates` on the same 10k rows, and Presidio against the
regex engine on 1,000 rows.

    python bench/data_prepare.py --only dedup   # the dedup comparison alone -> bench/results/dedup.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "data_prepare.json"
INTENTS = [
    "refund",
    "billing",
    "shipping",
    "technical",
    "account",
    "cancellation",
    "product_question",
    "other",
]
SYSTEM = (
    "Classify the support ticket. Intents: "
    + ", ".join(INTENTS)
    + ". Priorities: low, medium, high. Answer in JSON."
)
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "nu",
    "po",
    "ra",
    "si",
    "tu",
    "ve",
    "za",
    "be",
    "do",
    "fi",
    "gu",
    "he",
    "jo",
]


def _vocab(rng: random.Random, n: int = 4000) -> list[str]:
    return sorted(
        {"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(n)}
    )


def synthetic_rows(n: int, seed: int = 0) -> list[dict]:
    """n chat rows (JSON objects): unique tickets plus planted duplicates, near-duplicates and PII."""
    rng = random.Random(seed)
    vocab = _vocab(rng)
    rows: list[dict] = []
    while len(rows) < n:
        roll = rng.random()
        if rows and roll < 0.02:  # exact duplicate of an earlier row
            rows.append(json.loads(json.dumps(rng.choice(rows))))
            continue
        if rows and roll < 0.04:  # near-duplicate: one word added in front
            near = json.loads(json.dumps(rng.choice(rows)))
            near["messages"][1]["content"] = "hello " + near["messages"][1]["content"]
            rows.append(near)
            continue
        order = f"ORD-{rng.randint(10000, 99999)}"
        words = " ".join(rng.choice(vocab) for _ in range(rng.randint(12, 40)))
        text = f"My order {order} {words}."
        if roll < 0.06:
            name = rng.choice(["ana", "bo", "chen", "dev", "eli"]) + str(rng.randint(1, 500))
            text += rng.choice(
                [
                    f" Email me at {name}@example.com.",
                    f" Call me on +1 (415) 555-{rng.randint(1000, 9999)}.",
                    " My card is 4111 1111 1111 1111.",
                ]
            )
        answer = {
            "intent": rng.choice(INTENTS),
            "priority": rng.choice(["low", "medium", "high"]),
            "order_id": order,
        }
        msgs = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": text},
            {"role": "assistant", "content": json.dumps(answer)},
        ]
        rows.append(
            {"messages": msgs, "provenance": "synthetic" if rng.random() < 0.1 else "human"}
        )
    return rows


def write_jsonl(rows: list[dict], path: Path) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def child_prepare(n: int, workdir: Path, pii_engine: str) -> dict:
    """One prepare run, in this (fresh) process."""
    from tunewise.data.config import DataConfig
    from tunewise.data.prepare import prepare

    src = workdir / f"rows-{n}.jsonl"
    write_jsonl(synthetic_rows(n), src)
    cfg = DataConfig.model_validate(
        {"pii": {"mode": "redact", "engine": pii_engine}, "dedup": {"exact": True, "near": True}}
    )
    steps: list[tuple[str, float]] = []
    start = time.perf_counter()
    result = prepare(
        [src],
        cfg,
        workdir / f"out-{n}",
        progress=lambda s: steps.append((s, time.perf_counter())),
        overwrite=True,
    )
    wall = time.perf_counter() - start
    marks = [*steps, ("end", start + wall)]
    step_s = {name: round(marks[i + 1][1] - t, 2) for i, (name, t) in enumerate(marks[:-1])}
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    return {
        "rows": n,
        "wall_s": round(wall, 2),
        "rows_per_s": round(n / wall),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "steps_s": step_s,
        "counts": manifest.get("counts"),
    }


def _rows(objs: list[dict]) -> list:
    from tunewise.data.schema import Row, Source

    return [
        Row(messages=o["messages"], source=Source("bench.jsonl", i + 1), id=f"r{i}")
        for i, o in enumerate(objs)
    ]


def datasketch_dedup(rows: list, threshold: float, num_perm: int, k: int) -> set[str]:
    """The same dedup with datasketch: exact on normalized text, then MinHash + MinHashLSH.

    Its batch API at its fastest: every row's shingles hashed in one `MinHash.bulk` call (numpy per
    row, no Python call per shingle), then each row queried against the rows kept before it.
    """
    from datasketch import MinHash, MinHashLSH

    from tunewise.data.dedup import normalize

    dropped, seen, todo = set(), set(), []
    for row in rows:
        text = normalize(row.text(("user", "assistant")))
        if text in seen:
            dropped.add(row.id)
            continue
        seen.add(text)
        words = text.split()
        grams = [words[i : i + k] for i in range(max(1, len(words) - k + 1))]
        todo.append((row.id, [" ".join(g).encode() for g in grams]))
    hashes = MinHash.bulk([sh for _, sh in todo], num_perm=num_perm, seed=1)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    for (row_id, _), m in zip(todo, hashes, strict=True):
        if lsh.query(m):
            dropped.add(row_id)
        else:
            lsh.insert(row_id, m)
    return dropped


def dedup_comparison(n: int = 10_000, repeat: int = 3) -> dict:
    """`find_duplicates` against `datasketch_dedup` on the same rows: best of `repeat` each."""
    from tunewise.data.config import DedupConfig
    from tunewise.data.dedup import find_duplicates

    rows = _rows(synthetic_rows(n))
    cfg = DedupConfig()
    ours_s, theirs_s = [], []
    for _ in range(repeat):  # interleaved, so drift on a shared machine hits both alike
        t = time.perf_counter()
        ours = find_duplicates(rows, cfg)
        ours_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        theirs = datasketch_dedup(rows, cfg.threshold, cfg.num_perm, cfg.shingle_size)
        theirs_s.append(time.perf_counter() - t)
    mine = set(ours.dropped)
    return {
        "rows": n,
        "tunewise_s": round(min(ours_s), 3),
        "datasketch_bulk_s": round(min(theirs_s), 3),
        "speedup": round(min(theirs_s) / min(ours_s), 1),
        "tunewise_dropped": len(mine),
        "datasketch_dropped": len(theirs),
        "dropped_by_both": len(mine & theirs),
        "rounds_s": {
            "tunewise": [round(x, 3) for x in ours_s],
            "datasketch_bulk": [round(x, 3) for x in theirs_s],
        },
    }


def cpu() -> dict:
    """machine(), plus "model" and "cpus": the keys earlier results used for the CPU."""
    mach = machine()
    return {**mach, "model": mach["cpu"], "cpus": os.cpu_count()}


def child_baselines(workdir: Path) -> dict:
    """Same-script baselines: datasketch dedup vs ours on 10k rows; Presidio vs regex PII."""
    from tunewise.data.config import PIIConfig
    from tunewise.data.pii import scrub
    from tunewise.data.pii_presidio import available

    out: dict = {"dedup_10k": dedup_comparison()}
    sample = synthetic_rows(1000, seed=7)
    t = time.perf_counter()
    scrub(_rows(sample), PIIConfig(engine="regex"))
    regex_rps = 1000 / (time.perf_counter() - t)
    out["pii_1k"] = {"regex_rows_per_s": round(regex_rps)}
    if available():
        from tunewise.data.pii_presidio import analyzer

        t = time.perf_counter()
        analyzer()
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        scrub(_rows(sample), PIIConfig(engine="presidio"))
        pres_rps = 1000 / (time.perf_counter() - t)
        out["pii_1k"].update(
            {
                "presidio_rows_per_s": round(pres_rps, 1),
                "presidio_load_s": round(load_s, 1),
                "regex_vs_presidio": round(regex_rps / pres_rps),
            }
        )
    return out


def _spawn(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick", action="store_true", help="2k and 5k rows only; results not written unless --out"
    )
    ap.add_argument("--sizes", type=int, nargs="*", help="row counts (default 10000 50000 100000)")
    ap.add_argument("--pii-engine", default="regex", choices=["regex", "presidio", "auto"])
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument(
        "--only", choices=["dedup"], help="run one comparison alone (dedup: 10k rows, 3 rounds)"
    )
    ap.add_argument(
        "--out", type=Path, default=None, help=f"results file (default {RESULTS.relative_to(ROOT)})"
    )
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--child-baselines", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child_prepare(int(a.child[0]), Path(a.child[1]), a.child[2])))
        return
    if a.child_baselines:
        print(json.dumps(child_baselines(Path(a.child_baselines))))
        return
    if a.only == "dedup":
        _dedup_only(a.out or RESULTS.with_name("dedup.json"))
        return
    sizes = a.sizes or ([2000, 5000] if a.quick else [10_000, 50_000, 100_000])
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            run = _spawn(["--child", str(n), tmp, a.pii_engine])
            print(
                f"{n:>7} rows: {run['wall_s']:>7.1f} s  {run['rows_per_s']:>6} rows/s  peak {run['peak_rss_mb']} MB  {run['steps_s']}"
            )
            runs.append(run)
        baselines = {} if a.no_baselines else _spawn(["--child-baselines", tmp])
    if baselines:
        print(json.dumps(baselines, indent=2))
    load = os.getloadavg()
    result = {
        "benchmark": "tunewise data prepare (dedup exact+near, PII redact, quality rules incl. grounding)",
        "command": "python bench/data_prepare.py"
        + (" --quick" if a.quick else "")
        + (f" --sizes {' '.join(map(str, sizes))}" if a.sizes else ""),
        "pii_engine": a.pii_engine,
        "machine": {
            **cpu(),
            "loadavg_at_end": [round(x, 2) for x in load],
            "note": "shared 2-core machine; other jobs were running, so times include contention",
        },
        "runs": runs,
        "baselines": baselines,
    }
    out = a.out or (None if a.quick else RESULTS)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}")


def _dedup_only(out: Path) -> None:
    result = {
        "benchmark": "near-duplicate detection: tunewise find_duplicates vs datasketch MinHash.bulk + MinHashLSH",
        "command": "python bench/data_prepare.py --only dedup",
        "machine": {
            **cpu(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "dedup_10k": dedup_comparison(),
    }
    result["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
