"""The `/ui` page: features, aliases, each feature's latest rollout with per-arm figures, charts
over time and the decision timeline. One self-contained HTML document (inline CSS and SVG, no
script, no external request) rendered from the same dicts the admin API returns, so the numbers
on the page are the API's. Numbers carry `data-key` attributes naming their place in the API's
JSON (e.g. `current.arms.canary.error_rate`)."""

from __future__ import annotations

import html
from typing import Any

CONTROL, CANARY = "#1f6fb4", "#d9480f"
COLORS = {"control": CONTROL, "canary": CANARY}
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1180px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 6px} h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3} td.n{text-align:right;font-variant-numeric:tabular-nums}
.fail{color:#b00020;font-weight:600} .ok{color:#2b8a3e} .muted{color:#777}
.charts{display:flex;flex-wrap:wrap;gap:12px} .chart{border:1px solid #ddd;padding:4px}
.key{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:middle}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def num(value: Any, key: str, digits: int = 4) -> str:
    """A table cell holding one figure, tagged with its place in the API's JSON."""
    if value is None:
        return f'<td class="n muted" data-key="{_e(key)}" data-value="">-</td>'
    text = f"{value:.{digits}g}" if isinstance(value, float) else str(value)
    return f'<td class="n" data-key="{_e(key)}" data-value="{_e(value)}">{_e(text)}</td>'


def line_chart(chart_id: str, title: str, lines: dict[str, list[float | None]]) -> str:
    """Inline SVG of one or more series over the same buckets (gaps where a value is None)."""
    w, h, pad = 540, 170, 34
    values = [v for vs in lines.values() for v in vs if v is not None]
    top = max(values) if values else 1.0
    low = min(0.0, min(values)) if values else 0.0
    top = top if top > low else low + 1.0
    n = max((len(vs) for vs in lines.values()), default=1)

    def xy(i: int, v: float) -> str:
        x = pad + (w - 2 * pad) * (i / max(1, n - 1))
        y = h - pad - (h - 2 * pad) * ((v - low) / (top - low))
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<svg id="{_e(chart_id)}" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="{_e(title)}">',
        f'<text x="{pad}" y="16" font-size="13" font-weight="600">{_e(title)}</text>',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#999"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#999"/>',
        f'<text x="4" y="{pad + 4}" font-size="10">{top:.3g}</text>',
        f'<text x="4" y="{h - pad}" font-size="10">{low:.3g}</text>',
    ]
    for name, vs in lines.items():
        segment: list[str] = []
        for i, v in enumerate([*vs, None]):
            if v is not None:
                segment.append(xy(i, v))
                continue
            if len(segment) == 1:
                x, y = segment[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{COLORS.get(name, "#555")}"/>')
            elif segment:
                parts.append(
                    f'<polyline fill="none" stroke-width="3" stroke="{COLORS.get(name, "#555")}" points="{" ".join(segment)}"/>'
                )
            segment = []
    parts.append("</svg>")
    return '<div class="chart">' + "".join(parts) + "</div>"  # fmt: skip


def features_table(features: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{_e(f['feature'])}</td><td>{_e(f['control'] or '-')}</td><td>{_e(f['canary'] or '-')}</td>"
        + num(f["canary_percent"], f"features.{f['feature']}.canary_percent")
        + f"<td>{'on' if f['killed'] else 'off'}</td></tr>"
        for f in features
    )  # fmt: skip
    head = "<tr><th>feature</th><th>control (production)</th><th>canary</th><th>canary %</th><th>kill switch</th></tr>"
    return f'<table id="features">{head}{rows}</table>'


def arms_table(current: dict[str, Any]) -> str:
    arms = current.get("arms")
    if not arms:
        return ""
    names = sorted({k for a in arms.values() for k in a["scores"]})
    rows = [("requests", "requests"), ("errors", "errors"), ("error rate", "error_rate"),
            ("p95 latency (ms)", "p95_ms"), *((f"score: {n}", f"scores.{n}") for n in names),
            ("ratings", "ratings"), ("mean rating", "rating"), ("outcomes", "outcomes"),
            ("bad outcome share", "bad_outcome")]  # fmt: skip
    body = ""
    for label, path in rows:
        cells = ""
        for arm in ("control", "canary"):
            value: Any = arms[arm]
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            cells += num(value, f"current.arms.{arm}.{path}")
        body += f"<tr><th>{_e(label)}</th>{cells}</tr>"
    return f'<table class="arms"><tr><th></th><th>control</th><th>canary</th></tr>{body}</table>'


def metrics_table(current: dict[str, Any]) -> str:
    body = ""
    for i, m in enumerate(current.get("metrics") or []):
        d = m.get("difference") or {}
        cls = "fail" if m["verdict"] == "fail" else ("ok" if m["verdict"] == "ok" else "muted")
        body += (
            f"<tr><td>{_e(m['metric'])}</td>" + num(m["control"], f"current.metrics.{i}.control")
            + num(m["canary"], f"current.metrics.{i}.canary")
            + num(d.get("low"), f"current.metrics.{i}.difference.low")
            + num(d.get("high"), f"current.metrics.{i}.difference.high")
            + num(m["margin"], f"current.metrics.{i}.margin")
            + f'<td class="{cls}">{_e(m["verdict"])}</td></tr>'
        )  # fmt: skip
    head = "<tr><th>metric</th><th>control</th><th>canary</th><th>difference low</th><th>difference high</th><th>margin</th><th>verdict</th></tr>"
    return f'<table class="metrics">{head}{body}</table>'


def charts(feature: str, series: dict[str, Any]) -> str:
    arms = series.get("arms") or {}
    if not arms:
        return ""
    out = []
    for key, title in (
        ("requests", "requests"),
        ("error_rate", "error rate"),
        ("p95_ms", "p95 latency (ms)"),
    ):
        out.append(line_chart(f"chart-{feature}-{key}", title, {a: arms[a][key] for a in arms}))
    for name in sorted({k for a in arms.values() for k in a["scores"]}):
        lines = {a: arms[a]["scores"].get(name, []) for a in arms}
        out.append(line_chart(f"chart-{feature}-score-{name}", f"score: {name}", lines))
    legend = "".join(
        f'<span class="key" style="background:{c}"></span>{a}' for a, c in COLORS.items()
    )
    return f"<p>{legend} <span class='muted'>(buckets of {series['bucket_s']:g} s)</span></p><div class='charts'>{''.join(out)}</div>"  # fmt: skip


def timeline(decisions: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{_e(d['at'][:19].replace('T', ' '))}</td><td>{_e(d['action'])}</td>"
        f"<td class='n'>{d['percent']:g}%</td><td>{_e(d['reason'])}</td><td>{_e(d['by'])}</td></tr>"
        for d in decisions
    )
    return f"<table class='timeline'><tr><th>time (UTC)</th><th>decision</th><th>share</th><th>why</th><th>by</th></tr>{rows}</table>"


def rollout_section(status: dict[str, Any]) -> str:
    f = status["feature"]
    current = status.get("current") or {}
    shadow = current.get("shadow")
    parts = [
        f'<section id="rollout-{_e(f)}"><h2>{_e(f)}: rollout #{status["id"]} of {_e(status["model"])} '
        f'against {_e(status["control"])}</h2>',
        f'<p>state <b data-key="state">{_e(status["state"])}</b>, {_e(status["stage"])}, steps '
        f'{_e(", ".join(f"{p:g}%" for p in status["steps"]))}; started {_e(status["started_at"][:19])} by {_e(status["started_by"])}.'
        + (f" {_e(status['outcome'])}" if status.get("outcome") else "") + "</p>",
    ]  # fmt: skip
    if current:
        parts.append(f"<h3>{_e(current['stage'])}: {_e(current['verdict']['action'])}</h3>")
        parts.append(f"<p>{_e(current['verdict']['reason'])}</p>")
        parts.append(arms_table(current))
        if shadow:
            parts.append("<h3>shadow comparison</h3><table class='shadow'><tr>" + "".join(
                f"<th>{_e(k)}</th>" for k in shadow) + "</tr><tr>" + "".join(
                num(v, f"current.shadow.{k}") for k, v in shadow.items()) + "</tr></table>")  # fmt: skip
        parts.append(metrics_table(current))
    parts.append("<h3>over time</h3>" + charts(f, status.get("series") or {}))
    parts.append("<h3>decisions</h3>" + timeline(status.get("decisions") or []))
    parts.append("</section>")
    return "".join(parts)


def render_page(features: list[dict[str, Any]], rollouts: list[dict[str, Any]], as_of: str) -> str:
    body = [
        "<h1>tunewise: features and rollouts</h1>",
        f"<p class='muted'>as of {_e(as_of)} UTC; read-only; refreshes every 10 s</p>",
        "<h2>features</h2>",
        features_table(features),
        *(rollout_section(r) for r in rollouts),
    ]
    if not rollouts:
        body.append("<p>No rollout yet: `tunewise rollout start MODEL --feature FEATURE`.</p>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='10'>"
        f"<title>tunewise rollouts</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>"
    )
