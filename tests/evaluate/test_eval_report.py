"""The three reports from a crafted comparison; the HTML rendered in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from eval_helpers import make_run

from tunewise.evaluate.compare import compare_runs
from tunewise.evaluate.config import EvalConfig
from tunewise.evaluate.html import BASE, CAND
from tunewise.evaluate.report import normalize_curve, read_curve, write_report

N = 30


def crafted(tmp_path: Path) -> tuple[dict, dict]:
    intents = ["card_arrival", "exchange_rate", "pin_blocked"]
    expected = [{"intent": intents[i % 3]} for i in range(N)]
    tags = [[f"intent:{intents[i % 3]}"] + (["safety"] if i == 0 else []) for i in range(N)]
    base_out = ['{"intent": "card_arrival"}' if i % 2 else "I don't know" for i in range(N)]
    cand_out = [
        json.dumps(e) if i != 9 else '{"intent": "pin_blocked"}' for i, e in enumerate(expected)
    ]

    def score(outs: list[str]) -> list[float]:
        return [
            float(o.startswith("{") and json.loads(o) == e)
            for o, e in zip(outs, expected, strict=True)
        ]

    def valid(outs: list[str]) -> list[float]:
        return [float(o.startswith("{")) for o in outs]

    overlap = [i / N for i in range(N)]
    base = make_run("base", {"exact_match": score(base_out), "json_valid": valid(base_out), "overlap": overlap},
                    tags=tags, outputs=base_out, expected=expected)  # fmt: skip
    cand = make_run("cand", {"exact_match": score(cand_out), "json_valid": valid(cand_out), "overlap": overlap[::-1]},
                    tags=tags, outputs=cand_out, expected=expected, latency=[0.12] * N)  # fmt: skip
    curve_file = tmp_path / "adapter" / "curve.json"
    curve_file.parent.mkdir()
    curve_file.write_text(
        json.dumps([{"step": s, "train_loss": 3 / s, "valid_loss": 3.2 / s} for s in range(1, 21)])
    )
    report = compare_runs(
        base, cand, eval_cfg=EvalConfig(bootstrap_samples=1000), curve=read_curve(curve_file.parent)
    )
    paths = write_report(report, tmp_path / "out", base, cand)
    return report, paths


def test_reports_say_what_the_data_says(tmp_path: Path) -> None:
    report, paths = crafted(tmp_path)
    data = json.loads(paths["json"].read_text())
    assert data["gate"]["decision"] == report["gate"]["decision"] == "accept"
    assert data["golden"]["hash"] == "g" * 64
    assert data["confusion"]["labels"] == ["card_arrival", "exchange_rate", "pin_blocked"]
    regressed = [r["id"] for r in data["regressions"]]
    assert regressed == ["c9"]  # base right on c9 (card_arrival), candidate said pin_blocked
    md = paths["md"].read_text()
    assert md.startswith("## tunewise compare: ACCEPT")
    assert "| primary_lift | pass |" in md and "| c9 |" in md
    assert len((tmp_path / "out" / "candidate.results.jsonl").read_text().splitlines()) == N


def test_html_is_self_contained(tmp_path: Path) -> None:
    _, paths = crafted(tmp_path)
    html = paths["html"].read_text()
    assert "<script" not in html and " src=" not in html and " href=" not in html
    assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"] * html.count(
        "<svg"
    )
    for chart in (
        "chart-metrics",
        "chart-buckets",
        "chart-confusion-base",
        "chart-confusion-candidate",
        "chart-loss",
        "chart-dist-overlap",
    ):
        assert f'id="{chart}"' in html


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (
            [{"step": 1, "loss": 2.0}, {"step": 1, "eval_loss": 2.5}, {"step": 2, "loss": 1.5}],
            {"loss", "eval_loss"},
        ),
        ({"step": [1, 2, 3], "train_loss": [3.0, 2.0, 1.0]}, {"train_loss"}),
        ({"log_history": [{"step": 5, "loss": 1.0}]}, {"loss"}),
        ({"metrics": {"train_loss": [1.0, 0.5]}}, {"train_loss"}),
        ({"nothing": 1}, set()),
    ],
)
def test_curve_shapes(data: object, names: set[str]) -> None:
    assert set(normalize_curve(data)) == names


def test_curve_absent(tmp_path: Path) -> None:
    assert read_curve(tmp_path) is None
    assert read_curve(None) is None


def _chromium() -> str | None:
    return (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )


def _count(img, rgb: tuple[int, int, int]) -> int:  # type: ignore[no-untyped-def]
    return sum(n for n, px in img.getcolors(maxcolors=1 << 20) if px[:3] == rgb)


@pytest.mark.skipif(
    _chromium() is None, reason="chromium is not installed (apt-get install chromium)"
)
def test_html_charts_render_in_headless_chromium(tmp_path: Path) -> None:
    Image = pytest.importorskip("PIL.Image")
    _, paths = crafted(tmp_path)
    shot = tmp_path / "shot.png"
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,3000",
        paths["html"].resolve().as_uri(),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    img = Image.open(shot).convert("RGB")
    assert img.size == (1200, 3000)
    hexrgb = lambda h: tuple(int(h[i : i + 2], 16) for i in (1, 3, 5))  # noqa: E731
    # Bars of both sides are painted: many pixels in exactly the two series colors.
    assert _count(img, hexrgb(BASE)) > 2000
    assert _count(img, hexrgb(CAND)) > 2000
    # The charts region (below the gate table) is not blank.
    region = img.crop((0, 300, 1200, 1500))
    assert len(region.getcolors(maxcolors=1 << 20)) > 20
