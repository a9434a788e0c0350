"""`tunewise monitor` end to end on the support-intent replay, with real MiniLM embeddings, a real
registry (the model's lineage gives the training data and eval values), a real local webhook, and
the HTML report rendered in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from monitor_helpers import EMAILS, FEATURE, MODEL, START, Hook, week, write_config
from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.config import load_config
from tunewise.evaluate.html import BASE, CAND
from tunewise.monitor.api import run_monitor
from tunewise.monitor.requests import JsonlRequests
from tunewise.registry import Registry

runner = CliRunner()


def _monitor(project: dict[str, Any], cfg: Path, n: int, out: Path, *extra: str) -> Any:
    since, until = week(n)
    args = ["monitor", FEATURE, "-c", str(cfg), "--requests", str(project["requests"]),
            "--since", since, "--until", until, "--out", str(out), *extra]  # fmt: skip
    return runner.invoke(app, args)


def test_week1_is_quiet_week2_is_flagged(
    project: dict[str, Any], hook_url: str, tmp_path: Path
) -> None:
    cfg = write_config(project["folder"], triggers={"webhook": hook_url})
    quiet = _monitor(project, cfg, 1, tmp_path / "w1", "--check")
    assert quiet.exit_code == 0, quiet.output
    assert "input drift: no drift" in quiet.output and "triggers: none fired" in quiet.output
    w1 = json.loads((tmp_path / "w1" / "monitor.json").read_text())
    assert w1["model"] == MODEL and w1["training"]["rows"] > 250
    assert w1["input_drift"]["classifier"]["auc"] < 0.55
    assert w1["input_drift"]["outliers"]["share"] < 0.1
    assert w1["output_drift"]["labels"]["psi_band"] == "stable"
    assert w1["quality"]["eval_source"] and not any(c["below"] for c in w1["quality"]["vs_eval"])
    assert not Hook.received

    flagged = _monitor(project, cfg, 2, tmp_path / "w2", "--check")
    assert flagged.exit_code == 11, flagged.output
    assert "input drift: DRIFT" in flagged.output and "triggers FIRED" in flagged.output
    w2 = json.loads((tmp_path / "w2" / "monitor.json").read_text())
    clf = w2["input_drift"]["classifier"]
    assert clf["auc"] > 0.7 and clf["auc"] > clf["null_q95"] and clf["drifted"]
    assert w2["input_drift"]["outliers"]["share"] > 0.2
    assert (
        w2["output_drift"]["labels"]["psi"] >= 0.25
        and w2["output_drift"]["labels"]["chi2_p"] < 1e-6
    )
    grown = [c for c in w2["input_drift"]["clusters"] if c["grew"]]
    # Week 2's new phrasing. Trained-style technical tickets surge too (the mix shifts), so a grown
    # cluster may show one of them beside the new ones, but never mostly.
    new_style = re.compile(r"nimbus plus|app v4|app 4\.0|firmware")
    assert grown and all(
        2 * sum(bool(new_style.search(e)) for e in c["examples"]) > len(c["examples"])
        for c in grown
    ), [c["examples"] for c in grown]
    fired = {f["trigger"] for f in w2["triggers"]["fired"]}
    assert {"input_drift", "outliers", "label_mix"} <= fired
    # The training embeddings were computed once and reused (cache keyed by dataset hash).
    assert w2["input_drift"]["training_cache"]["cache"] == "hit"

    # The fired triggers are a registry event and reached the webhook.
    event = w2["triggers"]["event"]
    with Registry(load_config(cfg).registry.url) as reg:
        assert reg.events(feature=FEATURE, kind="monitor.trigger")[0]["id"] == event["id"]
    assert event["model"] == MODEL and {f["trigger"] for f in event["detail"]["fired"]} == fired
    assert len(Hook.received) == 1
    body = Hook.received[0]["body"]
    assert (
        body["feature"] == FEATURE
        and body["model"] == MODEL
        and body["report"].endswith("monitor.json")
    )
    assert Hook.received[0]["report_on_disk"]  # the hook can read the report it is told about
    assert w2["triggers"]["webhook"]["status"] == 204

    # No raw email address from the tickets surfaces anywhere; examples are scrubbed.
    outputs = (tmp_path / "w2" / "monitor.json").read_text() + (
        tmp_path / "w2" / "monitor.html"
    ).read_text()
    assert not any(e in outputs for e in EMAILS)


def test_drift_over_time_and_the_html_report(project: dict[str, Any], tmp_path: Path) -> None:
    cfg = load_config(project["config"])
    end = START.replace(day=18)
    result = run_monitor(FEATURE, cfg, JsonlRequests(project["requests"]), since=START, until=end,
                         out_dir=tmp_path / "two-weeks", record=False)  # fmt: skip
    by_day = result.report["input_drift"]["by_day"]
    assert len(by_day) == 14 and all(d["n"] > 30 for d in by_day)
    week1, week2 = by_day[:7], by_day[7:]
    assert max(d["auc"] for d in week1) < min(d["auc"] for d in week2)
    assert sum(d["drifted"] for d in week1) <= 1 and all(d["drifted"] for d in week2)
    assert sum(d["outlier_share"] for d in week1) / 7 < 0.1 < min(d["outlier_share"] for d in week2)
    days = {d["day"]: d for d in result.report["quality"]["days"]}
    assert len(days) == 14 and days["2026-05-04"]["requests"] == 100
    html = result.paths["html"].read_text()
    assert "<script" not in html and " src=" not in html and " href=" not in html
    for chart in ("chart-drift", "chart-clusters", "chart-labels", "chart-quality-json_valid"):
        assert f'id="{chart}"' in html
    # Over both weeks the new phrasing is a quarter of the inputs: it shows as new kinds of input.
    new = result.report["input_drift"]["new_inputs"]
    assert sum(k["production_share"] for k in new) > 0.1
    examples = [e for k in new[:3] for e in k["examples"]]
    assert examples and all(
        re.search(r"nimbus plus|membership|app v4|app 4\.0|firmware|app update", e)
        for e in examples
    )
    _render(result.paths["html"], tmp_path, new[0]["examples"][0])


def _chromium() -> str | None:
    return (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )


def _count(img: Any, rgb: tuple[int, ...]) -> int:
    return sum(n for n, px in img.getcolors(maxcolors=1 << 20) if px[:3] == rgb)


def _render(html: Path, tmp_path: Path, example: str) -> None:
    """Screenshot and DOM text from headless Chromium: the charts are painted and say what the
    report says."""
    if _chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    Image = pytest.importorskip("PIL.Image")
    shot = tmp_path / "shot.png"
    flags = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,2400", html.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    dom = subprocess.run([*flags, "--dump-dom", html.resolve().as_uri()], check=True,
                         capture_output=True, text=True, timeout=120).stdout  # fmt: skip
    text = unescape(re.sub(r"<[^>]+>", " ", dom))
    assert "tunewise monitor: support-intent" in text and "DRIFT" in text and "FIRED" in text
    assert example in text  # a grown cluster's example input is on the page
    img = Image.open(shot).convert("RGB")
    hexrgb = lambda h: tuple(int(h[i : i + 2], 16) for i in (1, 3, 5))  # noqa: E731
    assert _count(img, hexrgb(BASE)) > 1500 and _count(img, hexrgb(CAND)) > 1500  # cluster bars
    assert _count(img, hexrgb("#2b6cb0")) > 500  # the AUC line (and production bars)
    assert _count(img, hexrgb("#dd6b20")) > 200  # the outlier-share line
