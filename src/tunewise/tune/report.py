"""The search's report: a table of the trials and a plot, as trials.png and a self-contained
trials.html (the plot inlined), next to trials.json."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_bytes, atomic_write_text
from tunewise.config import ProjectConfig
from tunewise.tune.trial import TrialResult

COLUMNS = ("trial", "state", "lr", "epochs", "r", "targets", "rehearsal", "score", "valid loss",
           "forgetting", "time")  # fmt: skip


def row(r: TrialResult) -> list[str]:
    """One trial as table cells (the CLI's table and the HTML page show the same)."""
    p, f = r.params, r.forgetting
    forgetting = "-"
    if f:
        ci = f["ci"]
        forgetting = (f"{100 * f['delta']:+.1f} pts [{100 * ci['low']:+.1f}, {100 * ci['high']:+.1f}]"
                      + ("" if r.feasible or r.state != "complete" else " blocks"))  # fmt: skip
    return [
        str(r.number),
        r.state + (f": {r.error}" if r.error else ""),
        f"{p['learning_rate']:.2e}",
        str(p["epochs"]),
        str(p["lora_r"]),
        str(p["lora_targets"]),
        f"{p['rehearsal_share']:.2f}",
        f"{r.score:.1%}" if r.score is not None else "-",
        f"{r.valid_loss:.4f}"
        if r.valid_loss is not None
        else (f"{r.losses[-1]:.4f}" if r.losses else "-"),
        forgetting,
        f"{r.seconds:.0f} s",
    ]


def plot_png(results: list[TrialResult], metric: str, limit: float) -> bytes | None:
    """Score per trial (with the best so far) and the general suite's change per trial."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), dpi=100, sharex=True)
    done = [r for r in results if r.score is not None]
    for feasible, style in ((True, "o"), (False, "x")):
        pts = [(r.number, r.score) for r in done if r.feasible == feasible]
        if pts:
            top.plot(
                *zip(*pts, strict=True),
                style,
                label="meets the forgetting limit"
                if feasible
                else "would be blocked for forgetting",
            )
    best, line = None, []
    for r in sorted(done, key=lambda r: r.number):
        if r.feasible and (best is None or (r.score or 0) > best):
            best = r.score
        line.append((r.number, best if best is not None else float("nan")))
    if line:
        top.step(*zip(*line, strict=True), where="post", label="best so far", alpha=0.6)
    stopped = [r.number for r in results if r.state in ("pruned", "stopped")]
    for n in stopped:
        top.axvline(n, color="grey", alpha=0.2)
    top.set_ylabel(f"{metric} (validation)")
    if top.get_legend_handles_labels()[0]:
        top.legend(fontsize=8)
    top.grid(alpha=0.3)
    forg = [(r.number, 100 * r.forgetting["delta"]) for r in done if r.forgetting]
    if forg:
        bottom.bar(*zip(*forg, strict=True), color="tab:orange")
    bottom.axhline(-100 * limit, color="red", linestyle="--", label=f"-{100 * limit:.0f} pts")
    bottom.set_ylabel("general suite change (pts)")
    bottom.set_xlabel("trial (grey lines: pruned or stopped)")
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_report(
    out: Path, outcome: dict[str, Any], results: list[TrialResult], cfg: ProjectConfig
) -> None:
    png = plot_png(results, cfg.eval.primary_metric, cfg.gate.max_forgetting_drop)
    if png:
        atomic_write_bytes(out / "trials.png", png)
    best = outcome.get("best") or {}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        f"<tr{' class=best' if r.number == best.get('number') else ''}>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in row(r)) + "</tr>"
        for r in results
    )  # fmt: skip
    img = (f'<img alt="trials" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
           if png else "<p>(matplotlib not installed: no plot)</p>")  # fmt: skip
    summary = (
        f"best: trial {best.get('number')} with {cfg.eval.primary_metric} {best.get('score', 0):.1%} on the validation split"
        if best else "no trial finished"
    )  # fmt: skip
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>tunewise tune: {html.escape(cfg.project)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px}}tr.best{{background:#e6ffe6}}</style>
</head><body><h1>tunewise tune: {html.escape(cfg.project)}</h1>
<p>{html.escape(summary)}; {len(results)} trials in {outcome["seconds"]:.0f} s (budget {outcome["budget_s"]:.0f} s):
{", ".join(f"{v} {k}" for k, v in outcome["counts"].items() if v)}.</p>
<table><tr>{head}</tr>{body}</table>{img}</body></html>
"""
    atomic_write_text(out / "trials.html", page)
