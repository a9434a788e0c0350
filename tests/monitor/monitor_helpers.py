"""Builders for the monitor tests: the support-intent project config, the replay, the weeks, and a
real local HTTP server that records webhook calls."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "support-intent"
FEATURE, MODEL = "support-intent", "support-intent-v1"
START = datetime(2026, 5, 4, tzinfo=UTC)  # a Monday; week 2 starts on May 11
EMAILS = [f"jane.doe{i}@example.com" for i in range(20)]


def replay_module() -> Any:
    spec = importlib.util.spec_from_file_location("replay_traffic", EXAMPLE / "replay_traffic.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_config(folder: Path, **monitor: Any) -> Path:
    raw = yaml.safe_load((EXAMPLE / "tunewise.yaml").read_text())
    raw["data"]["inputs"] = [str(EXAMPLE / "data" / "tickets.jsonl")]
    raw["data"]["split"]["golden_file"] = str(EXAMPLE / "data" / "golden.jsonl")
    raw["data"]["pii"]["engine"] = "regex"  # fast and the same everywhere
    raw["registry"] = {"url": f"sqlite:///{folder / 'tunewise.db'}"}
    raw["run"]["runs_dir"] = str(folder / "runs")
    raw["monitor"] = monitor
    path = folder / f"tunewise-{len(list(folder.glob('tunewise*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def week(n: int) -> tuple[str, str]:
    since = START + timedelta(days=7 * (n - 1))
    return since.isoformat(), (since + timedelta(days=7)).isoformat()


class Hook(BaseHTTPRequestHandler):
    """Records each POSTed JSON body; answers `status`."""

    received: ClassVar[list[dict[str, Any]]] = []
    status: ClassVar[int] = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        data = json.loads(body)
        report = data.get("report") if isinstance(data, dict) else None
        Hook.received.append({"body": data, "type": self.headers["Content-Type"],
                              "report_on_disk": bool(report) and Path(report).is_file()})  # fmt: skip
        self.send_response(Hook.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass
