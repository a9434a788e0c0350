"""CLI verb of the retrain loop: `tunewise retrain FEATURE --reviewed FILE`."""

from __future__ import annotations

from pathlib import Path

import typer

from tunewise.cli import options as o
from tunewise.cli._console import console, err_console


def retrain_cmd(
    ctx: typer.Context,
    feature: str = typer.Argument(..., help="Feature whose production model is retrained."),
    reviewed: Path = typer.Option(
        ...,
        "--reviewed",
        "-r",
        help="Review JSONL (from `tunewise monitor FEATURE --export-review FILE`) with `answer` "
        "filled on the rows to learn from.",
    ),
    config: Path = typer.Option(
        None, "--config", "-c", help="tunewise.yaml (default: ./tunewise.yaml when present)."
    ),
    sets: o.Sets = None,
    out: Path = typer.Option(
        None, "--out", "-o", help="Folder for the run (default: runs/retrain/FEATURE-from-PARENT)."
    ),
    rollout: bool = typer.Option(
        None,
        "--rollout/--no-rollout",
        help="Start a canary rollout when the gate accepts (default: monitor.retrain.rollout).",
    ),
    force_rollout: str = typer.Option(
        None,
        "--force-rollout",
        metavar="REASON",
        help="Start the rollout even when the pre-deploy checklist has missing items (recorded).",
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Progress bars on stderr."
    ),
) -> None:
    """Train the next generation of FEATURE's model: its dataset version plus the reviewed
    production rows (through the data gates, minor version bump), trained with the production
    model's recorded config, gated against the production model on the refreshed golden set
    (the same golden cases plus a slice of reviewed rows held out from training); registered with a
    `retrain.generation` event, and rolled out as a canary when accepted.

    Exit codes: 0 accepted; 2 bad option or config; 3 review file or data gate problem;
    7 registry problem; 10 the gate blocked the new generation.
    """
    from tunewise.config import load_config
    from tunewise.errors import GateBlocked
    from tunewise.monitor.retrain import retrain

    if config is None and Path("tunewise.yaml").is_file():
        config = Path("tunewise.yaml")
    cfg = load_config(config, o.overrides(ctx))
    err_console.print(f"retraining {feature} with the reviewed rows of {reviewed} ...")
    r = retrain(feature, cfg, reviewed, out_dir=out, rollout=rollout,
                force_rollout_reason=force_rollout, progress=progress)  # fmt: skip
    d, p = r.data, r.data["production"]
    console.print(f"dataset {d['from']} -> {d['to']}: {p['kept']} of {p['offered']} reviewed production "
                  f"rows kept; dropped {p['dropped'] or 'none'}; production rows now {p['share']:.0%} of {p['version_rows']}",
                  markup=False)  # fmt: skip
    console.print(f"generation {r.generation}: {r.parent} -> {r.model}", markup=False)
    where = "refreshed golden set (golden + slice)" if r.slice else "golden set"
    console.print(_primary(where, r.gate["primary"]) + f"; gate {r.gate['decision']}", markup=False)
    if r.slice:
        for part in ("golden", "slice"):
            console.print(
                _primary(f"  {part} part ({r.slice[part]['n']} cases)", r.slice[part]), markup=False
            )
    if r.rollout:
        text = r.rollout.get("error") or f"canary rollout #{r.rollout.get('id')} started"
        console.print(f"rollout: {text}", markup=False)
    console.print(
        f"registry event #{r.event['id']} ({r.event['kind']}); wrote {r.folder / 'retrain.json'}",
        markup=False,
    )
    if r.gate["decision"] != "accept":
        raise GateBlocked(f"the gate blocked {r.model} against {r.parent}: {', '.join(r.gate['blocked_by'])}; "
                          f"see {Path(r.gate['report']).with_suffix('.md')}")  # fmt: skip


def _primary(where: str, p: dict[str, object]) -> str:
    base, cand = p.get("base"), p.get("candidate")
    if not isinstance(base, float | int) or not isinstance(cand, float | int):
        return f"{where}: {p.get('metric')} n/a"
    text = f"{where}: {p['metric']} {base:.1%} (production) -> {cand:.1%} (retrained)"
    ci = p.get("ci")
    if isinstance(ci, dict):
        text += f", {100 * float(ci['mean_diff']):+.1f} pts, CI [{100 * float(ci['low']):+.1f}, {100 * float(ci['high']):+.1f}]"
    return text
