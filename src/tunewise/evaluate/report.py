"""Writing a comparison: report.json (machines), report.md (a pull-request comment), report.html
(self-contained charts), plus each side's per-case results; and reading a training loss curve.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_json, atomic_write_jsonl, atomic_write_text, read_json

from .runner import RunResult

_CURVE_FILES = ("curves.json", "curve.json", "loss_curve.json", "training_curve.json", "train_curve.json", "metrics.json",
                "trainer_state.json", "manifest.json")  # fmt: skip
_MD_REGRESSIONS = 20


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def normalize_curve(data: Any) -> dict[str, list[list[float]]]:
    """Loss series {name: [[step, value], ...]} from the shapes trainers write: a list of records
    ({step, train_loss, ...}, HF log_history), columns ({step: [...], loss: [...]}), or either nested."""
    series: dict[str, list[list[float]]] = {}
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        for i, r in enumerate(data):
            step = r.get("step", r.get("global_step", i))
            for k, v in r.items():
                if "loss" in k and _num(v) and _num(step):
                    series.setdefault(k, []).append([float(step), float(v)])
        return series
    if isinstance(data, dict):
        steps = data.get("step", data.get("steps"))
        for k, v in data.items():
            if "loss" in k and isinstance(v, list) and v and all(_num(x) for x in v):
                xs = (
                    steps
                    if isinstance(steps, list) and len(steps) == len(v)
                    else list(range(1, len(v) + 1))
                )
                series[k] = [[float(s), float(x)] for s, x in zip(xs, v, strict=True)]
        if series:
            return series
        for v in data.values():
            if isinstance(v, dict | list) and (found := normalize_curve(v)):
                return found
    return series


def read_curve(path: str | Path | None) -> dict[str, Any] | None:
    """The loss curve next to an adapter (a folder) or in a given JSON file; None when there is none."""
    if path is None:
        return None
    path = Path(path)
    files = [path] if path.is_file() else [path / n for n in _CURVE_FILES if (path / n).is_file()]
    for f in files:
        try:
            series = normalize_curve(read_json(f))
        except (OSError, ValueError):
            continue
        if series:
            return {"source": str(f), "series": series}
    return None


def _cell(value: Any, width: int = 80) -> str:
    text = (
        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    )
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def render_markdown(report: dict[str, Any]) -> str:
    """The comparison as a short pull-request comment."""
    g, b, c = report["gate"], report["base"], report["candidate"]
    mark = "ACCEPT ✅" if g["decision"] == "accept" else "BLOCK ❌"
    lines = [
        f"## tunewise compare: {mark}",
        "",
        f"Golden set `{report['golden']['path']}`: {report['golden']['cases']} cases, hash `{report['golden']['hash'][:12]}`.  ",
        f"Base **{b['label']}** vs candidate **{c['label']}**; primary metric **{report['primary_metric']}**.",
        "",
        "### Gate",
        "| rule | outcome | detail |",
        "|---|---|---|",
        *[f"| {r['rule']} | {r['status']} | {_cell(r['detail'], 200)} |" for r in g["rules"]],
        "",
        "### Metrics",
        "| metric | base | candidate | Δ (pts) | CI (pts) | McNemar p |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for name, m in report["metrics"].items():
        p = f"{m['mcnemar']['p_value']:.3g}" if m["mcnemar"] else ""
        ci = f"[{100 * m['ci']['low']:+.1f}, {100 * m['ci']['high']:+.1f}]"
        lines.append(
            f"| {name} | {_pct(m['base'])} | {_pct(m['candidate'])} | {100 * m['delta']:+.1f} | {ci} | {p} |"
        )
    lines += [
        "",
        f"### Buckets ({report['primary_metric']})",
        "| bucket | n | base | candidate | Δ (pts) |",
        "|---|---:|---:|---:|---:|",
    ]
    for tag, bk in report["buckets"].items():
        lines.append(
            f"| {tag} | {bk['n']} | {_pct(bk['base'])} | {_pct(bk['candidate'])} | {100 * bk['delta']:+.1f} |"
        )
    lines += [
        "",
        "### Latency and cost",
        "| | p50 ms | p95 ms | tokens in | tokens out | $ per 1k requests |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for side in (b, c):
        lat, tok = side["latency_s"], side["tokens"]
        lines.append(
            f"| {side['label']} | {lat['p50'] * 1000:.0f} | {lat['p95'] * 1000:.0f} | {tok['in_mean']:.0f} | "
            f"{tok['out_mean']:.0f} | {side['cost_per_1k_usd']:.4f} |"
        )
    lines += _alternatives_md(report.get("alternatives"))
    lines += _forgetting_md(report.get("forgetting"))
    regs = report["regressions"]
    lines += ["", f"### Regressions ({len(regs)})"]
    if regs:
        lines += ["| id | expected | base output | candidate output |", "|---|---|---|---|"]
        lines += [
            f"| {r['id']} | {_cell(r['expected'], 50)} | {_cell(r['base_output'], 60)} | {_cell(r['candidate_output'], 60)} |"
            for r in regs[:_MD_REGRESSIONS]
        ]
        if len(regs) > _MD_REGRESSIONS:
            lines.append(f"\n…and {len(regs) - _MD_REGRESSIONS} more in report.json.")
    else:
        lines.append("None: the candidate never scored lower than the base.")
    return "\n".join(lines) + "\n"


def _ci(ci: dict[str, float]) -> str:
    return f"[{100 * ci['low']:+.1f}, {100 * ci['high']:+.1f}]"


def _alternatives_md(alts: dict[str, Any] | None) -> list[str]:
    if not alts:
        return []
    lines = [
        "",
        f"### Non-fine-tuned alternatives ({alts['metric']})",
        "| variant | kind | score | candidate | Δ (pts) | CI (pts) | McNemar p |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for r in alts["rows"]:
        p = f"{r['mcnemar']['p_value']:.3g}" if r["mcnemar"] else ""
        best = " (best)" if r["label"] == alts["best"] else ""
        lines.append(
            f"| {_cell(r['label'], 40)}{best} | {r['kind']} | {_pct(r['alternative'])} | {_pct(r['candidate'])} | "
            f"{100 * r['delta']:+.1f} | {_ci(r['ci'])} | {p} |"
        )
    return lines


def _forgetting_md(f: dict[str, Any] | None) -> list[str]:
    if not f:
        return []
    lines = [
        "",
        "### Forgetting check",
        f"General suite ({f['n']} cases, {f['metric']}): {_pct(f['base'])} → {_pct(f['candidate'])} "
        f"({100 * f['delta']:+.1f} pts, CI {_ci(f['ci'])}, McNemar p {f['mcnemar']['p_value']:.3g}).",
        "",
        "| category | n | base | candidate | Δ (pts) |",
        "|---|---:|---:|---:|---:|",
    ]
    for tag, b in (f.get("buckets") or {}).items():
        lines.append(
            f"| {tag} | {b['n']} | {_pct(b['base'])} | {_pct(b['candidate'])} | {100 * b['delta']:+.1f} |"
        )
    return lines


def write_report(
    report: dict[str, Any], out: str | Path, base: RunResult, cand: RunResult
) -> dict[str, Path]:
    """Write report.json, report.md, report.html and the per-case results; returns their paths."""
    from .html import render_html

    out = Path(out)
    paths = {
        "json": atomic_write_json(out / "report.json", report),
        "md": atomic_write_text(out / "report.md", render_markdown(report)),
        "html": atomic_write_text(out / "report.html", render_html(report)),
        "base_cases": atomic_write_jsonl(
            out / "base.results.jsonl", [c.__dict__ for c in base.cases]
        ),
        "candidate_cases": atomic_write_jsonl(
            out / "candidate.results.jsonl", [c.__dict__ for c in cand.cases]
        ),
    }
    return paths
