"""report.html: one self-contained page (inline CSS and SVG, no script, no network).

Charts: primary metric per bucket (base vs candidate bars), every metric side by side, confusion
matrices, score distributions and training loss curves; then the gate rules and the regression
table with both outputs. Every chart is an `<svg class="chart">` with explicit width and height.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

BASE, CAND = "#8a96a8", "#2b6cb0"
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#1a202c;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;width:100%}td,th{border:1px solid #e2e8f0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f7fafc}.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600}
.accept,.pass{background:#2f855a}.block{background:#c53030}.warn{background:#b7791f}.skip{background:#718096}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
.charts{display:flex;flex-wrap:wrap;gap:16px}pre{white-space:pre-wrap;margin:0;font-size:12px}
svg.chart{background:#fff;border:1px solid #edf2f7}
"""


def _legend() -> str:
    return f'<div class="legend"><span style="background:{BASE}"></span>base<span style="background:{CAND}"></span>candidate</div>'


def bars_svg(rows: list[tuple[str, float, float]], chart_id: str, width: int = 760) -> str:
    """Horizontal grouped bars, two per row (base, candidate), values in [0, 1]."""
    label_w, row_h, top = 190, 34, 10
    plot_w = width - label_w - 60
    height = top * 2 + row_h * max(1, len(rows))
    parts = [
        f'<svg class="chart" id="{chart_id}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, b, c) in enumerate(rows):
        y = top + i * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 20}" text-anchor="end" font-size="12">{escape(label[:28])}</text>'
        )
        for k, (v, color) in enumerate(((b, BASE), (c, CAND))):
            w = max(1.0, plot_w * max(0.0, min(1.0, v)))
            parts.append(
                f'<rect class="bar" x="{label_w}" y="{y + 3 + k * 14}" width="{w:.1f}" height="12" fill="{color}"/>'
            )
            parts.append(
                f'<text x="{label_w + w + 4:.1f}" y="{y + 13 + k * 14}" font-size="10">{100 * v:.1f}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def hist_svg(base: list[int], cand: list[int], title: str, chart_id: str) -> str:
    """A 10-bin histogram over [0, 1], base and candidate bars side by side."""
    width, height, pad = 250, 150, 22
    peak = max([*base, *cand, 1])
    bw = (width - 2 * pad) / len(base)
    parts = [f'<svg class="chart" id="{chart_id}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="{width / 2}" y="14" text-anchor="middle" font-size="12">{escape(title)}</text>']  # fmt: skip
    for i, (b, c) in enumerate(zip(base, cand, strict=True)):
        for k, (v, color) in enumerate(((b, BASE), (c, CAND))):
            h = (height - 2 * pad - 6) * v / peak
            x = pad + i * bw + k * bw / 2
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{height - pad - h:.1f}" width="{bw / 2 - 1:.1f}" height="{max(h, 0.5):.1f}" fill="{color}"/>'
            )
    parts.append(
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>'
    )
    parts.append(
        f'<text x="{pad}" y="{height - 6}" font-size="10">0</text><text x="{width - pad}" y="{height - 6}" font-size="10" text-anchor="end">1</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def matrix_svg(
    matrix: list[list[int]], rows: list[str], cols: list[str], title: str, chart_id: str
) -> str:
    """A confusion-matrix heat map (rows: expected, columns: predicted)."""
    cell, left, top = max(14, min(36, 520 // max(1, len(cols)))), 150, 120
    width, height = left + cell * len(cols) + 10, top + cell * len(rows) + 10
    peak = max([max(r) for r in matrix] + [1])
    parts = [f'<svg class="chart" id="{chart_id}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="4" y="14" font-size="12" font-weight="600">{escape(title)}</text>']  # fmt: skip
    for j, col in enumerate(cols):
        x = left + j * cell + cell / 2
        parts.append(
            f'<text transform="translate({x:.1f},{top - 4}) rotate(-60)" font-size="10">{escape(col[:22])}</text>'
        )
    for i, row in enumerate(rows):
        y = top + i * cell
        parts.append(
            f'<text x="{left - 4}" y="{y + cell / 2 + 4:.1f}" text-anchor="end" font-size="10">{escape(row[:24])}</text>'
        )
        for j, n in enumerate(matrix[i]):
            shade = int(255 - 200 * n / peak)
            fill = f"rgb({shade},{shade + (255 - shade) // 3},255)" if n else "#f7fafc"
            parts.append(
                f'<rect class="cell" x="{left + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" fill="{fill}"><title>{escape(row)} → {escape(cols[j])}: {n}</title></rect>'
            )
            if n:
                parts.append(
                    f'<text x="{left + j * cell + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle" font-size="10">{n}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)


def lines_svg(
    series: dict[str, list[list[float]]], chart_id: str, width: int = 760, height: int = 260
) -> str:
    """Loss curves: one polyline per series over shared axes."""
    pad, colors = 40, ["#2b6cb0", "#dd6b20", "#2f855a", "#805ad5"]
    xs = [p[0] for pts in series.values() for p in pts]
    ys = [p[1] for pts in series.values() for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = (width - 2 * pad) / ((x1 - x0) or 1)
    sy = (height - 2 * pad) / ((y1 - y0) or 1)
    parts = [f'<svg class="chart" id="{chart_id}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#999"/>',
             f'<text x="{pad - 4}" y="{pad + 4}" text-anchor="end" font-size="10">{y1:.3g}</text>',
             f'<text x="{pad - 4}" y="{height - pad}" text-anchor="end" font-size="10">{y0:.3g}</text>',
             f'<text x="{width - pad}" y="{height - pad + 14}" text-anchor="end" font-size="10">step {x1:g}</text>']  # fmt: skip
    for k, (name, pts) in enumerate(sorted(series.items())):
        color = colors[k % len(colors)]
        coords = " ".join(
            f"{pad + (x - x0) * sx:.1f},{height - pad - (y - y0) * sy:.1f}" for x, y in pts
        )
        parts.append(
            f'<polyline class="curve" points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>'
        )
        parts.append(
            f'<text x="{width - pad}" y="{pad + 14 * k}" text-anchor="end" font-size="11" fill="{color}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(head: list[str], rows: list[list[str]], num: set[int] | None = None) -> str:
    num = num or set()
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>" for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def _pre(value: Any) -> str:
    text = (
        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    )
    return f"<pre>{escape(text)}</pre>"


def _ci(ci: dict[str, float]) -> str:
    return f"[{100 * ci['low']:+.1f}, {100 * ci['high']:+.1f}]"


def _alternatives_html(alts: dict[str, Any] | None) -> list[str]:
    if not alts:
        return []
    rows = [[escape(r["label"]) + (" <b>(best)</b>" if r["label"] == alts["best"] else ""), escape(str(r["kind"])),
             f"{100 * r['alternative']:.1f}", f"{100 * r['candidate']:.1f}", f"{100 * r['delta']:+.1f}", _ci(r["ci"]),
             f"{r['mcnemar']['p_value']:.3g}" if r["mcnemar"] else ""] for r in alts["rows"]]  # fmt: skip
    bars = [(r["label"], r["alternative"], r["candidate"]) for r in alts["rows"]]
    return [
        f"<h2>Non-fine-tuned alternatives: {escape(alts['metric'])}</h2>",
        "<p>Each bar pair: the alternative (grey) and the candidate (blue) on the same cases.</p>",
        bars_svg(bars, "chart-alternatives"),
        _table(
            ["variant", "kind", "score", "candidate", "Δ pts", "CI pts", "McNemar p"],
            rows,
            num={2, 3, 4, 6},
        ),
    ]


def _forgetting_html(f: dict[str, Any] | None) -> list[str]:
    if not f:
        return []
    buckets = f.get("buckets") or {}
    rows = [[escape(t), str(b["n"]), f"{100 * b['base']:.1f}", f"{100 * b['candidate']:.1f}", f"{100 * b['delta']:+.1f}"]
            for t, b in buckets.items()]  # fmt: skip
    return [
        f"<h2>Forgetting check</h2><p>General suite ({f['n']} cases, {escape(f['metric'])}): {100 * f['base']:.1f} → "
        f"{100 * f['candidate']:.1f} ({100 * f['delta']:+.1f} pts, CI {_ci(f['ci'])}, McNemar p {f['mcnemar']['p_value']:.3g}).</p>",
        _legend(),
        bars_svg([(t, b["base"], b["candidate"]) for t, b in buckets.items()], "chart-forgetting"),
        _table(["category", "n", "base", "candidate", "Δ pts"], rows, num={1, 2, 3, 4}),
    ]


def render_html(report: dict[str, Any]) -> str:
    """The whole report page."""
    g, b, c, primary = report["gate"], report["base"], report["candidate"], report["primary_metric"]
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>tunewise compare: {escape(g['decision'])}</title><style>{_CSS}</style></head><body>",
           f"<h1>tunewise compare <span class='badge {g['decision']}'>{escape(g['decision'].upper())}</span></h1>",
           f"<p>Golden set <code>{escape(report['golden']['path'])}</code>: {report['golden']['cases']} cases, hash <code>{report['golden']['hash'][:16]}</code>. "
           f"Base <b>{escape(b['label'])}</b> vs candidate <b>{escape(c['label'])}</b>; primary metric <b>{escape(primary)}</b>.</p>",
           "<h2>Gate</h2>",
           _table(["rule", "outcome", "detail"], [[escape(r["rule"]), f"<span class='badge {r['status']}'>{r['status']}</span>", escape(r["detail"])] for r in g["rules"]])]  # fmt: skip
    metrics = report["metrics"]
    out += [
        "<h2>Metrics</h2>",
        _legend(),
        bars_svg([(m, v["base"], v["candidate"]) for m, v in metrics.items()], "chart-metrics"),
    ]
    out.append(_table(
        ["metric", "base", "candidate", "Δ pts", "CI pts", "McNemar p"],
        [[escape(m), f"{100 * v['base']:.1f}", f"{100 * v['candidate']:.1f}", f"{100 * v['delta']:+.1f}",
          f"[{100 * v['ci']['low']:+.1f}, {100 * v['ci']['high']:+.1f}]", f"{v['mcnemar']['p_value']:.3g}" if v["mcnemar"] else ""]
         for m, v in metrics.items()], num={1, 2, 3, 5}))  # fmt: skip
    if report["buckets"]:
        rows = [
            (f"{t} (n={bk['n']})", bk["base"], bk["candidate"])
            for t, bk in report["buckets"].items()
        ]
        out += [f"<h2>Buckets: {escape(primary)}</h2>", _legend(), bars_svg(rows, "chart-buckets")]
    if report.get("confusion"):
        cm = report["confusion"]
        out += [f"<h2>Confusion matrix: {escape(cm['field'])}</h2><div class='charts'>",
                matrix_svg(cm["base"], cm["labels"], cm["columns"], "base", "chart-confusion-base"),
                matrix_svg(cm["candidate"], cm["labels"], cm["columns"], "candidate", "chart-confusion-candidate"), "</div>"]  # fmt: skip
    out += ["<h2>Score distributions</h2>", _legend(), "<div class='charts'>"]
    out += [
        hist_svg(d["base"], d["candidate"], m, f"chart-dist-{escape(m)}")
        for m, d in report["distributions"].items()
    ]
    out.append("</div>")
    curve = report.get("training_curve")
    if curve and curve.get("series"):
        out += [
            f"<h2>Training loss</h2><p>From <code>{escape(curve['source'])}</code>.</p>",
            lines_svg(curve["series"], "chart-loss"),
        ]
    out.append("<h2>Latency and cost</h2>")
    out.append(_table(
        ["", "p50 ms", "p95 ms", "tokens in", "tokens out", "$ per 1k requests", "errors"],
        [[escape(s["label"]), f"{s['latency_s']['p50'] * 1000:.0f}", f"{s['latency_s']['p95'] * 1000:.0f}", f"{s['tokens']['in_mean']:.0f}",
          f"{s['tokens']['out_mean']:.0f}", f"{s['cost_per_1k_usd']:.4f}", str(s["errors"])] for s in (b, c)], num={1, 2, 3, 4, 5, 6}))  # fmt: skip
    out += _alternatives_html(report.get("alternatives"))
    out += _forgetting_html(report.get("forgetting"))
    regs = report["regressions"]
    out.append(f"<h2>Regressions ({len(regs)})</h2>")
    out.append(_table(["id", "tags", "expected", "base output", "candidate output", "why"],
                      [[escape(r["id"]), escape(", ".join(r["tags"])), _pre(r["expected"]), _pre(r["base_output"]), _pre(r["candidate_output"]), escape(r["candidate_reason"])]
                       for r in regs[:200]]) if regs else "<p>None: the candidate never scored lower than the base.</p>")  # fmt: skip
    out.append("</body></html>")
    return "\n".join(out)
