"""The `/ui` page: features, aliases, each feature's latest rollout with per-arm figures (a
finished rollout's as its last decision recorded them), the shadow stage's agreement and paired
score differences (table and charts), charts over time and the decision timeline. One self-contained HTML document (inline CSS and SVG, no
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


def arms_table(current: dict[str, Any], at: str = "current") -> str:
    arms = current.get("arms")
    if not arms:
        return ""
    names = sorted({k for a in arms.values() for k in a["scores"]})
    rows = [("requests", "requests"), ("errors", "errors"), ("error rate", "error_rate"),
            ("p95 latency (ms)", "p95_ms"), *((f"score: {n}", f"scores.{n}") for n in names),
            *((("judged answers", "judged"),) if "judge" in names else ()),
            ("ratings", "ratings"), ("mean rating", "rating"), ("outcomes", "outcomes"),
            ("bad outcome share", "bad_outcome")]  # fmt: skip
    body = ""
    for label, path in rows:
        cells = ""
        for arm in ("control", "canary"):
            value: Any = arms[arm]
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            cells += num(value, f"{at}.arms.{arm}.{path}")
        body += f"<tr><th>{_e(label)}</th>{cells}</tr>"
    return f'<table class="arms"><tr><th></th><th>control</th><th>canary</th></tr>{body}</table>'


def metrics_table(current: dict[str, Any], at: str = "current") -> str:
    body = ""
    for i, m in enumerate(current.get("metrics") or []):
        d, key = m.get("difference") or {}, f"{at}.metrics.{i}"
        cls = "fail" if m["verdict"] == "fail" else ("ok" if m["verdict"] == "ok" else "muted")
        body += (
            f"<tr><td>{_e(m['metric'])}</td>" + num(m["control"], f"{key}.control")
            + num(m["canary"], f"{key}.canary")
            + num(d.get("low"), f"{key}.difference.low")
            + num(d.get("high"), f"{key}.difference.high")
            + num(m["margin"], f"{key}.margin")
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
    live = stage_figures(status, "arms")
    if live is not None:
        figures, at = live
        if at != "current":  # a finished rollout, or a live one back in shadow: what was decided on
            parts.append(
                f"<h3>{_e(figures['stage'])} as recorded at {_e(figures['until'][:19])}</h3>"
            )
        parts.append(arms_table(figures, at) + metrics_table(figures, at))
    parts.append(shadow_section(status))
    parts.append("<h3>over time</h3>" + charts(f, status.get("series") or {}))
    parts.append("<h3>decisions</h3>" + timeline(status.get("decisions") or []))
    parts.append("</section>")
    return "".join(parts)


def stage_figures(status: dict[str, Any], kind: str) -> tuple[dict[str, Any], str] | None:
    """(figures, their place in the API's JSON) of the rollout's `kind` stage (`shadow` or
    `arms`): the current look while it runs, else the last decision that recorded them."""
    current = status.get("current") or {}
    if kind in current:
        return current, "current"
    decisions = status.get("decisions") or []
    for i in range(len(decisions) - 1, -1, -1):
        figures = decisions[i].get("figures") or {}
        if kind in figures and "metrics" in figures:
            return figures, f"decisions.{i}.figures"
    return None


def delta_chart(chart_id: str, metrics: list[dict[str, Any]]) -> str:
    """Horizontal bars: each metric's candidate - control with its confidence interval
    (whiskers) and margin (dashed), on one axis symmetric around 0. Answer length (`chars`,
    in characters, not a rate) is left to the table."""
    rows = [m for m in metrics if m["metric"] != "chars" and m.get("difference")]
    w, row_h, left, pad = 540, 26, 150, 20
    h = 40 + row_h * max(1, len(rows))
    spans = [abs(v) for m in rows for v in (m["difference"]["low"], m["difference"]["high"],
                                            m["margin"]) if v is not None]  # fmt: skip
    top = max([0.05, *spans])
    mid = left + (w - left - pad) / 2

    def x(v: float) -> float:
        return mid + (w - left - pad) / 2 * v / top

    parts = [
        f'<svg id="{_e(chart_id)}" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="candidate minus control">',
        '<text x="4" y="16" font-size="13" font-weight="600">candidate - control (interval, margin dashed)</text>',
        f'<line x1="{mid:.1f}" y1="24" x2="{mid:.1f}" y2="{h - 4}" stroke="#999"/>',
        f'<text x="{x(-top):.1f}" y="{h - 2}" font-size="10">{-top:.3g}</text>',
        f'<text x="{x(top) - 24:.1f}" y="{h - 2}" font-size="10">{top:.3g}</text>',
    ]  # fmt: skip
    for i, m in enumerate(rows):
        y = 30 + i * row_h
        d = m["difference"]
        est = d.get("estimate") or 0.0
        colour = "#b00020" if m["verdict"] == "fail" else CANARY
        parts.append(f'<text x="4" y="{y + 14}" font-size="12">{_e(m["metric"])}</text>')
        a, b = sorted((x(0), x(est)))
        parts.append(
            f'<rect x="{a:.1f}" y="{y + 4}" width="{max(b - a, 1.5):.1f}" height="12" fill="{colour}"/>'
        )
        if d.get("low") is not None and d.get("high") is not None:
            lo, hi = x(max(-top, d["low"])), x(min(top, d["high"]))
            parts.append(
                f'<line x1="{lo:.1f}" y1="{y + 10}" x2="{hi:.1f}" y2="{y + 10}" stroke="#222" stroke-width="1.5"/>'
            )
        for sign in (-1, 1):
            mx = x(sign * m["margin"])
            parts.append(
                f'<line x1="{mx:.1f}" y1="{y + 2}" x2="{mx:.1f}" y2="{y + 18}" stroke="#777" stroke-dasharray="3,2"/>'
            )
    parts.append("</svg>")
    return '<div class="chart">' + "".join(parts) + "</div>"  # fmt: skip


def agreement_chart(chart_id: str, agreement: float | None, pairs: int) -> str:
    """One bar: the share of mirrored requests where candidate and control agree."""
    w, h, left = 540, 56, 150
    share = agreement or 0.0
    width = (w - left - 20) * share
    label = "-" if agreement is None else f"{100 * share:.1f}% of {pairs}"
    return (
        f'<div class="chart"><svg id="{_e(chart_id)}" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="agreement">'
        '<text x="4" y="16" font-size="13" font-weight="600">agreement with control</text>'
        f'<rect x="{left}" y="26" width="{w - left - 20}" height="16" fill="#eee"/>'
        f'<rect x="{left}" y="26" width="{width:.1f}" height="16" fill="{CONTROL}"/>'
        f'<text x="4" y="39" font-size="12">{_e(label)}</text></svg></div>'
    )  # fmt: skip


SHADOW_ROWS = (("mirrored pairs", "pairs"), ("agreement", "agreement"),
               ("candidate errors", "candidate_errors"),
               ("of which unsupported requests", "candidate_unsupported"),
               ("control p95 latency (ms)", "control_p95_ms"),
               ("candidate p95 latency (ms)", "candidate_p95_ms"))  # fmt: skip


def shadow_section(status: dict[str, Any]) -> str:
    """The shadow stage's figures: agreement, latency, and each score's paired difference."""
    found = stage_figures(status, "shadow")
    if found is None:
        return ""
    figures, at = found
    sh, f = figures["shadow"], status["feature"]
    summary = "".join(f"<tr><th>{_e(label)}</th>{num(sh.get(k), f'{at}.shadow.{k}')}</tr>"
                      for label, k in SHADOW_ROWS)  # fmt: skip
    body = ""
    for i, m in enumerate(figures["metrics"]):
        d, key = m.get("difference") or {}, f"{at}.metrics.{i}"
        cls = "fail" if m["verdict"] == "fail" else ("ok" if m["verdict"] == "ok" else "muted")
        body += (f"<tr><td>{_e(m['metric'])}</td>" + num(m["control"], f"{key}.control")
                 + num(m["canary"], f"{key}.canary") + num(d.get("estimate"), f"{key}.difference.estimate")
                 + num(d.get("low"), f"{key}.difference.low") + num(d.get("high"), f"{key}.difference.high")
                 + num(m["margin"], f"{key}.margin") + f'<td class="{cls}">{_e(m["verdict"])}</td></tr>')  # fmt: skip
    head = ("<tr><th>score</th><th>control</th><th>candidate</th><th>difference</th>"
            "<th>low</th><th>high</th><th>margin</th><th>verdict</th></tr>")  # fmt: skip
    when = "now" if at == "current" else f"as recorded at {figures['until'][:19]}"
    return (
        f'<div class="shadow" id="shadow-{_e(f)}"><h3>shadow stage ({_e(status["shadow_percent"])}% of control\'s '
        f"requests mirrored), {_e(when)}</h3>"
        f"<table class='shadow-summary'>{summary}</table>"
        f"<table class='shadow-deltas'>{head}{body}</table>"
        f"<div class='charts'>{agreement_chart(f'chart-{f}-shadow-agreement', sh.get('agreement'), sh.get('pairs', 0))}"
        f"{delta_chart(f'chart-{f}-shadow-deltas', figures['metrics'])}</div></div>"
    )  # fmt: skip


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
