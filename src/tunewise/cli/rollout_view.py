"""Printing rollout status and the checklist as tables (the CLI's presentation only)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tunewise.cli._console import console


def _n(x: Any, pct: bool = False) -> str:
    if x is None:
        return "-"
    if pct:
        return f"{100 * x:.2f}%"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def print_status(st: dict[str, Any]) -> None:
    console.print(
        f"rollout #{st['id']} on {st['feature']}: {st['model']} against {st['control']}: "
        f"{st['state'].upper()} at {st['stage']} (steps {', '.join(f'{p:g}%' for p in st['steps'])})",
        markup=False, soft_wrap=True,
    )  # fmt: skip
    if st.get("outcome"):
        console.print(f"  {st['outcome']}", markup=False, soft_wrap=True)
    cur = st.get("current")
    if cur:
        console.print(f"{cur['stage']} since {cur['since'][:19]}: {cur['verdict']['action']}: "
                      f"{cur['verdict']['reason']}", markup=False, soft_wrap=True)  # fmt: skip
        _arms(cur)
        _metrics(cur)
    elif (last := _last_figures(st)) is not None:
        console.print(f"figures at the last decision ({last['action']}, {last['at'][:19]}):",
                      markup=False)  # fmt: skip
        _arms(last["figures"])
        _metrics(last["figures"])
    lease = st.get("lease") or {}
    if lease.get("holder"):
        console.print(
            f"controller: {lease['holder']} (lease until {lease['expires_at'][:19]})", markup=False
        )
    console.print("decisions (UTC):", markup=False)
    for d in st.get("decisions", []):
        when = d["at"][:19].replace("T", " ")
        console.print(f"  {when}  {d['action']:<17} {d['percent']:>5g}%  {d['reason']}",
                      markup=False, soft_wrap=True)  # fmt: skip


def _last_figures(st: dict[str, Any]) -> dict[str, Any] | None:
    """A finished rollout's last decision that carries a stage's figures (the rollback's)."""
    return next(
        (d for d in reversed(st.get("decisions", [])) if "metrics" in (d.get("figures") or {})),
        None,
    )


def _arms(cur: dict[str, Any]) -> None:
    if cur.get("shadow"):
        sh = cur["shadow"]
        console.print(f"shadow: {sh['pairs']} pairs, agreement {_n(sh['agreement'], True)}, "
                      f"candidate errors {sh['candidate_errors']} "
                      f"({sh.get('candidate_unsupported', 0)} unsupported), p95 {_n(sh['control_p95_ms'])} ms "
                      f"(control) vs {_n(sh['candidate_p95_ms'])} ms (candidate)", markup=False)  # fmt: skip
        return
    arms = cur["arms"]
    judged = any("judge" in arms[a]["scores"] for a in ("control", "canary"))
    table = Table(title="arms")
    cols = ["", "requests", "error rate", "p95 ms", "scores", "rating (n)", "bad outcome (n)"]
    for col in cols + (["judge (n)"] if judged else []):
        table.add_column(col)
    for name in ("control", "canary"):
        a = arms[name]
        scores = {k: v for k, v in a["scores"].items() if k != "judge"}
        row = [name, str(a["requests"]), _n(a["error_rate"], True), _n(a["p95_ms"]),
               ", ".join(f"{k} {v:.3f}" for k, v in scores.items() if v is not None),
               f"{_n(a['rating'])} ({a['ratings']})", f"{_n(a['bad_outcome'], True)} ({a['outcomes']})"]  # fmt: skip
        if judged:
            row.append(f"{_n(a['scores'].get('judge'))} ({a.get('judged', 0)})")
        table.add_row(*row)
    console.print(table)


def _metrics(cur: dict[str, Any]) -> None:
    table = Table(title=f"metrics (alpha per check {cur['alpha_per_check']:.2g})")
    for col in ("metric", "control", "canary", "canary - control (CS)", "margin", "verdict"):
        table.add_column(col)
    for m in cur["metrics"]:
        d = m.get("difference")
        cs = (
            f"{d['estimate']:+.4g} [{d['low']:+.4g}, {d['high']:+.4g}]"
            if d and d["low"] is not None
            else "-"
        )
        style = {"fail": "bold red", "ok": "green"}.get(m["verdict"], "dim")
        table.add_row(m["metric"], _n(m["control"]), _n(m["canary"]), cs, f"{m['margin']:g}",
                      f"[{style}]{m['verdict']}[/]")  # fmt: skip
    console.print(table)


def print_checklist(feature: str, items: list[Any]) -> None:
    """One line per item (long commands must stay copyable, so no table cells)."""
    from rich.markup import escape

    console.print(f"[bold]pre-deploy checklist: {escape(feature)}[/]")
    for i in items:
        if i.found:
            console.print(f"  [green]found[/]   {escape(i.title)}: {escape(i.value or '')} "
                          f"[dim](from {escape(i.source or '?')})[/]", soft_wrap=True)  # fmt: skip
        else:
            seen = f" ({escape(i.value)})" if i.value else ""
            console.print(f"  [bold red]missing[/] {escape(i.title)}{seen}: {escape(i.fix or '')}",
                          soft_wrap=True)  # fmt: skip
    missing = [i for i in items if not i.found]
    if missing:
        console.print(f"{len(missing)} missing: `tunewise rollout start` refuses until they are "
                      "filled (or --force --reason, recorded)", markup=False, soft_wrap=True)  # fmt: skip
    else:
        console.print("ready: every item found", markup=False)
