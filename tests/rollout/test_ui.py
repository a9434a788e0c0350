"""`/ui`: one self-contained read-only page; in headless Chromium its charts render and every
number it shows equals the admin API's."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from rollout_helpers import drive, set_reply, until
from test_ramp import start

from tunewise.serve.keys import create_key
from tunewise.serve.rollout.page import CANARY, CONTROL
from tunewise.store import get_engine

CHROMIUM = (
    shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
)
DATA = re.compile(r'data-key="([^"]+)" data-value="([^"]*)"')


def lookup(doc: dict[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if node is None:  # e.g. a metric with no data has no difference: shown empty
            return None
        node = node[int(part)] if isinstance(node, list) else node.get(part)
    return node


def same(shown: str, value: Any) -> bool:
    if value is None:
        return shown == ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return shown == str(value)
    return float(shown) == pytest.approx(float(value))


def numbers_equal_the_api(gw: Any, html: str, api: dict[str, Any]) -> set[str]:
    """Every tagged number on the page equals the API's at its key; returns the keys shown."""
    shown = DATA.findall(html)
    features = {f["id"]: f for f in httpx.get(gw.url + "/v1/models").json()["data"]}
    for key, value in shown:
        if key.startswith("features."):
            expected = features[key.split(".")[1]]["canary_percent"]
        else:
            expected = lookup(api, key)
        assert same(value, expected), (key, value, expected)
    return {k for k, _ in shown}


@pytest.fixture
def running(world) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A rollout held at 50% with traffic on both arms (nothing more arrives)."""
    gw = world["gateway"]()
    start(world["url"], "sup-v2", steps=[50, 100], min_requests=10_000)
    drive(gw, 60)

    def arms() -> dict[str, Any]:
        return httpx.get(gw.url + "/v1/tunewise/rollouts/support").json()["current"]["arms"]

    # The request log is written off the request path: wait until all 60 answers are counted.
    until(lambda: sum(a["requests"] for a in arms().values()) == 60, timeout=60)
    assert arms()["canary"]["requests"] >= 15
    return {**world, "gw": gw}


def _chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp / 'profile'}", *args]  # fmt: skip
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=180)


def test_the_page_is_self_contained_and_read_only(running) -> None:  # type: ignore[no-untyped-def]
    page = httpx.get(running["gw"].url + "/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert (
        "<script" not in html
        and " src=" not in html
        and " href=" not in html
        and "<form" not in html
    )
    assert set(re.findall(r"https?://[^\"' ]+", html)) == {"http://www.w3.org/2000/svg"}
    for chart in ("requests", "error_rate", "p95_ms", "score-chars"):
        assert f'id="chart-support-{chart}"' in html
    assert "rollout #1 of sup-v2 against sup-v1" in html


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_in_chromium_the_numbers_equal_the_api_and_the_charts_render(
    running, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    Image = pytest.importorskip("PIL.Image")
    gw = running["gw"]
    api = httpx.get(gw.url + "/v1/tunewise/rollouts/support").json()
    dom = _chromium(["--dump-dom", gw.url + "/ui"], tmp_path).stdout
    after = httpx.get(gw.url + "/v1/tunewise/rollouts/support").json()
    assert api["current"]["arms"] == after["current"]["arms"]  # no traffic moved meanwhile
    keys = numbers_equal_the_api(gw, dom, api)
    assert {"current.arms.canary.requests", "current.arms.control.error_rate",
            "current.arms.canary.p95_ms", "current.metrics.0.difference.low"} <= keys  # fmt: skip
    assert len(keys) >= 30
    shot = tmp_path / "ui.png"
    _chromium([f"--screenshot={shot}", "--window-size=1200,2600", gw.url + "/ui"], tmp_path)
    if os.environ.get("TUNEWISE_KEEP_SCREENSHOT"):  # to look at the page
        shutil.copy(shot, os.environ["TUNEWISE_KEEP_SCREENSHOT"])
    img = Image.open(shot).convert("RGB")
    colours = {px[:3]: n for n, px in img.getcolors(maxcolors=1 << 20)}
    rgb = lambda h: tuple(int(h[i : i + 2], 16) for i in (1, 3, 5))  # noqa: E731
    assert (
        colours.get(rgb(CONTROL), 0) > 500 and colours.get(rgb(CANARY), 0) > 500
    )  # both series drawn


def test_with_keys_the_page_asks_for_an_admin_key(world) -> None:  # type: ignore[no-untyped-def]
    engine = get_engine(world["url"])
    admin, _ = create_key(engine, "ops", admin=True, by="test")
    client, _ = create_key(engine, "app", by="test")
    gw = world["gateway"]()
    anonymous = httpx.get(gw.url + "/ui")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith(
        "Basic"
    )

    def basic(key: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"me:{key}".encode()).decode()}

    assert httpx.get(gw.url + "/ui", headers=basic(client)).status_code == 403
    assert httpx.get(gw.url + "/ui", headers=basic(admin)).status_code == 200
    assert (
        httpx.get(gw.url + "/ui", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_shadow_stage_has_its_own_section_with_the_api_numbers(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Agreement, latency and each score's paired difference: a table and two charts while the
    shadow stage runs (in Chromium), and as recorded once the rollout has ended."""
    from test_shadow_feedback import REFUND_LOW
    from test_shadow_feedback import start as start_shadow

    from tunewise.serve.rollout.api import abort_rollout

    gw, url = world["gateway"](rollout={"shadow_concurrency": 64}), world["url"]
    set_reply(world["main"], "sup-v1", reply=REFUND_LOW)
    set_reply(world["main"], "sup-v2", reply='{"intent": "billing", "priority": "high"}')
    start_shadow(url, "sup-v2", shadow=100, min_requests=10_000)
    status = lambda: httpx.get(gw.url + "/v1/tunewise/rollouts/support").json()  # noqa: E731
    until(
        lambda: status()["current"]["shadow"]["pairs"] >= 15, timeout=60, step=lambda: drive(gw, 10)
    )
    api = status()
    dom = _chromium(["--dump-dom", gw.url + "/ui"], tmp_path).stdout
    if status()["current"]["shadow"] != api["current"]["shadow"]:  # a late pair landed meanwhile
        api = status()
        dom = _chromium(["--dump-dom", gw.url + "/ui"], tmp_path).stdout
    keys = numbers_equal_the_api(gw, dom, api)
    metrics = api["current"]["metrics"]
    chars = next(i for i, m in enumerate(metrics) if m["metric"] == "chars")
    assert {"current.shadow.pairs", "current.shadow.agreement", "current.shadow.candidate_p95_ms",
            f"current.metrics.{chars}.difference.estimate"} <= keys  # fmt: skip
    assert (
        api["current"]["shadow"]["agreement"] == 0.0
        and metrics[chars]["difference"]["estimate"] > 0
    )
    assert (
        'id="chart-support-shadow-agreement"' in dom and 'id="chart-support-shadow-deltas"' in dom
    )
    keep = os.environ.get("TUNEWISE_KEEP_SCREENSHOT")
    if keep:  # to look at the page
        shot = tmp_path / "shadow.png"
        _chromium([f"--screenshot={shot}", "--window-size=1200,2600", gw.url + "/ui"], tmp_path)
        shutil.copy(shot, keep)
    abort_rollout(get_engine(url), "support", reason="test: ended in shadow", by="ana")
    ended = status()
    page = httpx.get(gw.url + "/ui").text
    i = len(ended["decisions"]) - 1
    assert ended["current"] is None and ended["decisions"][i]["figures"]["shadow"]
    assert {f"decisions.{i}.figures.shadow.agreement",
            f"decisions.{i}.figures.metrics.{chars}.difference.estimate"} <= numbers_equal_the_api(gw, page, ended)  # fmt: skip
