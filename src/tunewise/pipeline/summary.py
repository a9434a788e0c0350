"""The run's summary: one verdict, `summary.json`, a self-contained `summary.html` linking every stage."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from tunewise import __version__
from tunewise.artifacts import atomic_write_json, atomic_write_text
from tunewise.config import ProjectConfig
from tunewise.pipeline.stages import StageRecord

_LINKS = {
    "data": [
        "dataset/manifest.json",
        "dataset/rejects.jsonl",
        "dataset/train.jsonl",
        "dataset/golden.jsonl",
    ],
    "decide": ["decision.json"],
    "cost": ["cost.json"],
    "baseline": [
        "zero-shot/eval.json",
        "few-shot/eval.json",
        "classifier/eval.json",
        "classifier/model/manifest.json",
    ],
    "cheapest": ["report.html", "report.md"],
    "tune": ["trials.html", "trials.png", "trials.json"],
    "train": ["adapter/manifest.json", "adapter/loss.png", "adapter/curves.json"],
    "compare": ["report.html", "report.md", "report.json"],
    "register": ["registered.json", "classifier/report.html"],
}


def verdict_of(records: list[StageRecord]) -> tuple[str, dict[str, Any]]:
    """One sentence a reviewer can act on, and the figures behind it."""
    by = {r.name: r for r in records}
    details: dict[str, Any] = {}
    base = by.get("baseline")
    if base and base.status in {"ran", "cached"}:
        details["baseline"] = base.outputs.get("scores")
    skipped = [r for r in records if r.status == "skipped"]
    if skipped:
        return f"not trained: {skipped[0].note}", details
    cmp = by.get("compare")
    if cmp is None:
        return "incomplete", details
    details["primary"] = cmp.outputs.get("primary")
    details["decision"] = cmp.outputs.get("decision")
    p = details["primary"] or {}
    lift = ""
    if p.get("base") is not None and p.get("candidate") is not None:
        lift = f" ({p['metric']}: base {p['base']:.1%} -> fine-tuned {p['candidate']:.1%}, {100 * (p['candidate'] - p['base']):+.1f} points)"
    if cmp.outputs.get("decision") == "accept":
        return f"gate ACCEPTED the fine-tuned model{lift}", details
    blocked = ", ".join(cmp.outputs.get("blocked_by") or [])
    verdict = f"gate BLOCKED the fine-tuned model by {blocked or 'its rules'}{lift}"
    return verdict + _cheaper(cmp.outputs.get("alternative") or {}, by.get("register")), details


def _cheaper(alt: dict[str, Any], register: StageRecord | None) -> str:
    """The plain words when the fine-tune does not beat a cheaper variant by the gate's margin."""
    if alt.get("status") != "block":
        return ""
    text = (
        f"; it does not beat '{alt['alternative']}' ({alt['score']:.1%}) by the gate's margin: "
        "ship that instead"
    )
    instead = register.outputs.get("instead") if register else None
    return text + (f" (registered as {instead['model']})" if instead else "")


def next_steps(cfg: ProjectConfig, records: list[StageRecord], config: Path | str) -> list[str]:
    """The commands that ship the model this run recommends and registered (none otherwise): the
    accepted fine-tune, or the classifier when it reached the target or the fine-tune did not beat it."""
    model = _shippable(records)
    if model is None:
        return []
    feature = cfg.project
    return [
        f"serve it (first release): tunewise registry promote {model} --feature {feature} "
        f"--alias production && tunewise serve -c {config}",
        f"roll it out (replacing a production model): tunewise rollout start {model} "
        f"--feature {feature} -c {config}",
    ]


def _shippable(records: list[StageRecord]) -> str | None:
    """The registered model whose own gate passed and that this run says to ship."""
    by = {r.name: r for r in records}
    cmp, reg, cheap = by.get("compare"), by.get("register"), by.get("cheapest")
    instead = (reg.outputs.get("instead") if reg else None) or {}
    if instead.get("gate") == "accept":
        return str(instead["model"])
    if cmp and reg and cmp.outputs.get("decision") == "accept" and "model" in reg.outputs:
        return str(reg.outputs["model"])
    registered = (cheap.outputs.get("registered") if cheap else None) or {}
    stopped = any(r.status == "skipped" for r in records)
    if stopped and registered.get("gate") == "accept":
        return str(registered["model"])
    return None


def _baseline_line(details: dict[str, Any]) -> str:
    scores = details.get("baseline") or {}
    if not scores:
        return ""
    text = ", ".join(f"{name} {score:.1%}" for name, score in scores.items())
    return f"<p>Variants without training on the same golden set: {html.escape(text)}.</p>"


def write_summary(
    run_dir: Path,
    cfg: ProjectConfig,
    records: list[StageRecord],
    verdict: str,
    details: dict[str, Any],
) -> None:
    stages = [
        {
            "name": r.name,
            "status": r.status,
            "seconds": round(r.seconds, 2),
            "key": r.key[:16],
            "note": r.note,
            "outputs": r.outputs,
        }
        for r in records
    ]
    atomic_write_json(
        run_dir / "summary.json",
        {
            "project": cfg.project,
            "verdict": verdict,
            "details": details,
            "stages": stages,
            "tunewise_version": __version__,
        },
    )
    rows = []
    for r in records:
        links = " ".join(
            f'<a href="{html.escape(r.name + "/" + rel)}">{html.escape(rel)}</a>'
            for rel in _LINKS.get(r.name, [])
            if (run_dir / r.name / rel).exists()
        )
        note = html.escape(r.note)
        rows.append(
            f"<tr class='{r.status}'><td>{r.name}</td><td>{r.status}</td><td>{r.seconds:.1f} s</td>"
            f"<td>{links or '-'}</td><td>{note}</td></tr>"
        )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>tunewise run: {html.escape(cfg.project)}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:.4em;text-align:left}}.ran td:nth-child(2){{color:#0a7}}
.cached td:nth-child(2){{color:#777}}.skipped td:nth-child(2){{color:#b80}}.verdict{{font-size:1.2em;padding:.8em;background:#f4f4f8}}</style>
</head><body><h1>tunewise run: {html.escape(cfg.project)}</h1>
<p class="verdict">{html.escape(verdict)}</p>{_baseline_line(details)}
<table><tr><th>stage</th><th>status</th><th>time</th><th>artifacts</th><th>note</th></tr>{"".join(rows)}</table>
<p>tunewise {__version__}. Stages marked <i>cached</i> were reused because their inputs and config did not change.</p>
</body></html>
"""
    atomic_write_text(run_dir / "summary.html", page)
