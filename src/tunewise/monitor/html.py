"""monitor.html: one self-contained page (inline CSS and SVG, no script, no network).

Charts: input drift per day (classifier AUC, outlier share), live quality per day and arm against
the eval value, the clusters of inputs by share (training vs production, with scrubbed examples
of the ones that grew) and the label mix. Every chart is an `<svg class="chart">` with an id.
"""

from __future__ import annotations

from html import escape
from typing import Any

from tunewise.evaluate.html import _CSS, BASE, CAND, _table, bars_svg

COLORS = ["#2b6cb0", "#dd6b20", "#2f855a", "#805ad5", "#c53030", "#319795"]


def _legend(*items: tuple[str, str]) -> str:
    spans = "".join(f'<span style="background:{c}"></span>{escape(n)}' for n, c in items)
    return f'<div class="legend">{spans}</div>'


def day_lines_svg(
    days: list[str],
    series: list[tuple[str, str, list[float | None]]],
    chart_id: str,
    refs: list[tuple[str, float, str]] | None = None,
    width: int = 760,
    height: int = 240,
) -> str:
    """Lines over days on a [0, 1] axis; None values leave gaps; refs are dashed horizontal lines."""
    pad, left = 34, 46
    plot_w, plot_h = width - left - pad, height - 2 * pad
    step = plot_w / max(1, len(days) - 1)

    def xy(i: int, v: float) -> str:
        return f"{left + i * step:.1f},{pad + plot_h * (1 - max(0.0, min(1.0, v))):.1f}"

    parts = [f'<svg class="chart" id="{chart_id}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{left}" y1="{pad + plot_h}" x2="{left + plot_w}" y2="{pad + plot_h}" stroke="#999"/>',
             f'<line x1="{left}" y1="{pad}" x2="{left}" y2="{pad + plot_h}" stroke="#999"/>']  # fmt: skip
    for v in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{left - 4}" y="{pad + plot_h * (1 - v) + 4:.1f}" text-anchor="end" font-size="10">{v:g}</text>'
        )
    for i, day in enumerate(days):
        if len(days) <= 16 or i % max(1, len(days) // 12) == 0:
            parts.append(
                f'<text x="{left + i * step:.1f}" y="{height - 8}" text-anchor="middle" font-size="9">{escape(day[5:])}</text>'
            )
    for label, y, color in refs or []:
        parts.append(
            f'<line class="ref" x1="{left}" y1="{pad + plot_h * (1 - y):.1f}" x2="{left + plot_w}" y2="{pad + plot_h * (1 - y):.1f}" stroke="{color}" stroke-dasharray="5,4"/>'
        )
        parts.append(
            f'<text x="{left + plot_w}" y="{pad + plot_h * (1 - y) - 3:.1f}" text-anchor="end" font-size="10" fill="{color}">{escape(label)}</text>'
        )
    for k, (name, color, values) in enumerate(series):
        runs: list[list[str]] = [[]]
        for i, val in enumerate(values):
            if val is None:
                runs.append([])
                continue
            point = xy(i, val)
            runs[-1].append(point)
            cx, cy = point.split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>')
        for run in runs:
            if len(run) > 1:
                parts.append(
                    f'<polyline class="curve" points="{" ".join(run)}" fill="none" stroke="{color}" stroke-width="2"/>'
                )
        parts.append(
            f'<text x="{left + 6}" y="{pad - 18 + 12 * k}" font-size="11" fill="{color}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)  # fmt: skip


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.1f}%" if pct else (f"{v:.3f}" if isinstance(v, float) else escape(str(v)))


def _triggers(report: dict[str, Any]) -> list[str]:
    fired = report["triggers"]["fired"]
    if not fired:
        return ["<p><span class='badge pass'>OK</span> No trigger fired.</p>"]
    rows = [
        [escape(f["trigger"]), escape(f["detail"]), _fmt(f["value"]), _fmt(f["limit"])]
        for f in fired
    ]
    return [f"<p><span class='badge block'>{len(fired)} FIRED</span></p>",
            _table(["trigger", "detail", "value", "limit"], rows, num={2, 3})]  # fmt: skip


def _drift(d: dict[str, Any]) -> list[str]:
    if "skipped" in d:
        return [f"<p>Skipped: {escape(d['skipped'])}.</p>"]
    c, s, o = d["classifier"], d["sample"], d["outliers"]
    out = [f"<p>Domain classifier ROC AUC <b>{_fmt(c['auc'])}</b> (drift above {c['threshold']}"
           + (f" and above the random-score null {_fmt(c['null_q95'])}" if c.get("null_q95") is not None else "")
           + f"): <span class='badge {'block' if c['drifted'] else 'pass'}'>{'DRIFT' if c['drifted'] else 'no drift'}</span>. "
           f"Outliers: {_fmt(o['share'], True)} of inputs are farther from the training set than its own 95th-percentile "
           f"neighbour distance (about 5% without drift). Embedded {s['embedded']:,} of {s['prompts']:,} sampled prompts "
           f"and {s['training']:,} training rows; AUC null SE {s['null_se_sample']:.4f} (all prompts: {s['null_se_all']:.4f}).</p>"]  # fmt: skip
    days = [r["day"] for r in d["by_day"]]
    out.append(day_lines_svg(days, [("classifier AUC", COLORS[0], [r["auc"] for r in d["by_day"]]),
                                    ("outlier share", COLORS[1], [r["outlier_share"] for r in d["by_day"]])],
                             "chart-drift", refs=[(f"AUC {c['threshold']}", c["threshold"], "#c53030")]))  # fmt: skip
    rows = [
        (f"c{k['cluster']}: {', '.join(k['terms'][:3])}", k["train_share"], k["production_share"])
        for k in d["clusters"]
    ]
    out += [
        "<h2>Clusters of inputs</h2>",
        _legend(("training", BASE), ("production", CAND)),
        bars_svg(rows, "chart-clusters"),
    ]
    new = d.get("new_inputs") or []
    out.append(
        "<h2>New kinds of input</h2><p>Production inputs farther from every training row than 95% of training rows are from "
        "their nearest neighbour, clustered on their own.</p>"
    )
    out.append(
        _table(
            ["kind", "share of production", "example inputs (PII-scrubbed)"],
            [
                [
                    escape(", ".join(k["terms"])),
                    _fmt(k["production_share"], True),
                    "<br>".join(escape(e) for e in k["examples"]),
                ]
                for k in new
            ],
            num={1},
        )
        if new
        else "<p>None: every input has training rows near it.</p>"
    )
    out.append("<h3>Clusters that grew</h3>")
    grown = [k for k in d["clusters"] if k["grew"]]
    out.append(_table(["cluster", "training", "production", "p", "example inputs (PII-scrubbed)"],
                      [[f"c{k['cluster']}: {escape(', '.join(k['terms']))}", _fmt(k["train_share"], True),
                        _fmt(k["production_share"], True), f"{k['p_value']:.2g}",
                        "<br>".join(escape(e) for e in k["examples"])] for k in grown], num={1, 2, 3})
               if grown else "<p>No cluster grew significantly.</p>")  # fmt: skip
    return out


def _quality(q: dict[str, Any]) -> list[str]:
    out = []
    days = sorted({r["day"] for r in q["days"]})
    metrics = sorted({m for r in q["days"] for m in r["metrics"]})
    for metric in metrics:
        series = []
        for k, arm in enumerate(sorted(q["arms"])):
            by_day = {
                r["day"]: r["metrics"].get(metric, {}).get("mean")
                for r in q["days"]
                if r["arm"] == arm
            }
            series.append((arm, COLORS[k % len(COLORS)], [by_day.get(d) for d in days]))
        ref = q["eval_metrics"].get(metric)
        refs = [(f"eval {ref:.3f}", ref, "#718096")] if ref is not None else []
        out.append(
            f"<h3>{escape(metric)}</h3>"
            + day_lines_svg(days, series, f"chart-quality-{escape(metric)}", refs, height=170)
        )
    rows = [
        [
            escape(c["metric"]),
            _fmt(c["eval"]),
            _fmt(c["live"]),
            f"[{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]",
            str(c["n"]),
            "<span class='badge block'>below</span>" if c["below"] else "ok",
        ]
        for c in q["vs_eval"]
    ]
    out.append(_table(["metric", "eval", "live", "95% CI", "n", ""], rows, num={1, 2, 4}) if rows
               else "<p>No eval values to compare with.</p>")  # fmt: skip
    return out


def render_html(report: dict[str, Any]) -> str:
    """The whole monitor page."""
    t, st = report["traffic"], report["staleness"]
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>tunewise monitor: {escape(report['feature'])}</title><style>{_CSS}</style></head><body>",
           f"<h1>tunewise monitor: {escape(report['feature'])}</h1>",
           f"<p>Model <b>{escape(str(report.get('model') or '(not registered)'))}</b>; window {escape(report['window']['since'][:16])} → {escape(report['window']['until'][:16])} UTC; "
           f"{t['requests']:,} requests ({t['with_prompt']:,} with sampled text, {t['reviewed']:,} reviewed, {t['errors']:,} errors).</p>",
           "<h2>Triggers</h2>", *_triggers(report), "<h2>Input drift over time</h2>", *_drift(report["input_drift"])]  # fmt: skip
    labels = report["output_drift"]["labels"]
    out.append("<h2>Output drift</h2>")
    if "skipped" in labels:
        out.append(f"<p>Label mix skipped: {escape(labels['skipped'])}.</p>")
    else:
        out += [f"<p>Label mix ({escape(str(labels['field'] or 'answer'))}): PSI <b>{labels['psi']:.3f}</b> ({labels['psi_band']}), "
                f"chi-squared p = {labels['chi2_p']:.3g}.</p>", _legend(("training", BASE), ("production", CAND)),
                bars_svg([(x["label"], x["train_share"], x["production_share"]) for x in labels["labels"]], "chart-labels")]  # fmt: skip
    lengths = report["output_drift"]["lengths"]
    if "skipped" not in lengths:
        out.append(f"<p>Answer length: {lengths['train_mean']:.0f} chars in training, {lengths['production_mean']:.0f} live; "
                   f"KS {lengths['ks']:.3f}, p = {lengths['p_value']:.3g}.</p>")  # fmt: skip
    out += ["<h2>Live quality per day</h2>", f"<p>Eval values from {escape(str(report['quality']['eval_source']))}.</p>" if report["quality"]["eval_source"] else "<p>No eval values: the model has no eval recorded in the registry.</p>",
            *_quality(report["quality"]), "<h2>Staleness</h2>",
            _table(["model age (days)", "days since last eval", "training data age (days)"],
                   [[_fmt(st["model_age_days"]), _fmt(st["days_since_eval"]), _fmt(st["data_age_days"])]], num={0, 1, 2}),
            "</body></html>"]  # fmt: skip
    return "\n".join(out)
