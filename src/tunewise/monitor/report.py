"""The console summary of a monitor report: a few lines a person reads in a terminal or CI log."""

from __future__ import annotations

from typing import Any


def _drift_line(d: dict[str, Any]) -> str:
    if "skipped" in d:
        return f"input drift: skipped ({d['skipped']})"
    c, o, s = d["classifier"], d["outliers"], d["sample"]
    null = f", null 95% {c['null_q95']:.3f}" if c.get("null_q95") is not None else ""
    verdict = "DRIFT" if c["drifted"] else "no drift"
    return (
        f"input drift: {verdict} (classifier AUC {c['auc']:.3f}{null}; outliers {o['share']:.1%}, "
        f"~5% expected; {s['embedded']:,} of {s['prompts']:,} prompts embedded at "
        f"{d['throughput']['texts_per_s']} texts/s)"
    )


def summary_lines(report: dict[str, Any]) -> list[str]:
    """Traffic, drift, grown clusters, label mix, quality against eval, staleness, triggers."""
    t = report["traffic"]
    lines = [
        f"{report['feature']} ({report.get('model') or 'model not registered'}): {t['requests']:,} requests, "
        f"{t['with_prompt']:,} with text, {t['reviewed']:,} reviewed, {t['errors']:,} errors "
        f"({report['window']['since'][:10]} .. {report['window']['until'][:10]})",
        _drift_line(report["input_drift"]),
    ]
    for k in report["input_drift"].get("clusters", []):
        if k["grew"]:
            lines.append(
                f"  grew: c{k['cluster']} [{', '.join(k['terms'][:4])}] "
                f"{k['train_share']:.1%} -> {k['production_share']:.1%}"
            )
    for k in report["input_drift"].get("new_inputs", [])[:5]:
        lines.append(f"  new: [{', '.join(k['terms'][:4])}] {k['production_share']:.1%} of inputs")
    labels = report["output_drift"]["labels"]
    if "skipped" not in labels:
        lines.append(
            f"label mix: PSI {labels['psi']:.3f} ({labels['psi_band']}), chi2 p={labels['chi2_p']:.3g}"
        )
    live = report["quality"]["model_rows"]["metrics"]
    if live and not report["quality"]["vs_eval"]:
        means = ", ".join(f"{m} {v['mean']:.3f}" for m, v in live.items())
        lines.append(f"quality (live, no eval values to compare): {means}")
    for c in report["quality"]["vs_eval"]:
        flag = "  BELOW" if c["below"] else ""
        lines.append(
            f"quality {c['metric']}: live {c['live']:.3f} vs eval {c['eval']:.3f} (n={c['n']}){flag}"
        )
    st = report["staleness"]
    ages = [
        f"{name} {st[key]:.0f}d"
        for key, name in (
            ("model_age_days", "model"),
            ("days_since_eval", "since eval"),
            ("data_age_days", "data"),
        )
        if st.get(key) is not None
    ]
    if ages:
        lines.append("age: " + ", ".join(ages))
    fired = report["triggers"]["fired"]
    lines.append(
        "triggers: none fired"
        if not fired
        else "triggers FIRED: " + "; ".join(f"{f['trigger']} ({f['detail']})" for f in fired)
    )
    return lines
