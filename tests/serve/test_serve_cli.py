"""`tunewise serve` as a user starts it: a startup error is one message, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tunewise.serve.testing import free_port

REPO = Path(__file__).resolve().parents[2]


def test_a_base_that_cannot_load_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(
        f"serve:\n  upstreams:\n    laptop: {{kind: local, base: {tmp_path / 'nope'}}}\n"
    )
    cmd = [sys.executable, "-m", "tunewise", "serve", "-c", str(cfg), "--port", str(free_port()),
           "--db", f"sqlite:///{tmp_path / 'tw.db'}"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 3, done.stderr
    assert f"serve.upstreams.laptop: base model '{tmp_path / 'nope'}'" in done.stderr
    assert "Traceback" not in done.stderr and "File " not in done.stderr
    assert "/v1 (upstreams" not in done.stdout + done.stderr  # never said it was up
