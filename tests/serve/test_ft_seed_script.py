"""The seeds' own code, unchanged, against `tunewise serve --workers 1`: the README's snippet is
examples/openai-fine-tuning/finetune.py (checked to be the same text), run as a user runs it with
OPENAI_BASE_URL and any key. Fast on the tiny model; with the bundled SmolLM2 as an integration
test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

psutil = pytest.importorskip("psutil")

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "openai-fine-tuning"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_seed_script(tmp: Path, base: str, train: dict, timeout: float) -> list[str]:
    """Serve (with a worker) from a config like the example's, run finetune.py; its output lines."""
    cfg = yaml.safe_load((EXAMPLE / "tunewise.yaml").read_text())
    cfg["serve"]["upstreams"]["laptop"]["base"] = base
    cfg["serve"]["upstreams"]["laptop"]["max_tokens"] = 32
    # The first chat call loads the base and the new adapter; on a loaded CI machine that alone
    # can pass the default 60 s (the SDK itself waits 600 s).
    cfg["serve"]["upstreams"]["laptop"]["timeout_s"] = 540
    cfg["serve"]["fine_tuning"]["bases"] = {"gpt-4o-mini-2024-07-18": base}
    cfg["serve"]["fine_tuning"]["train"] = train
    (tmp / "tunewise.yaml").write_text(yaml.safe_dump(cfg))
    shutil.copy(EXAMPLE / "train.jsonl", tmp / "train.jsonl")
    port = _port()
    env = {**os.environ, "TUNEWISE_HOME": str(tmp / ".tunewise")}
    env.pop("TUNEWISE_DB_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "tunewise", "serve", "--config", "tunewise.yaml",
         "--port", str(port), "--workers", "1"],
        cwd=tmp, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
            time.sleep(0.3)
        seed_env = {**env, "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": "x"}
        done = subprocess.run(
            [sys.executable, str(EXAMPLE / "finetune.py")],
            cwd=tmp, env=seed_env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        family = psutil.Process(server.pid).children(recursive=True)  # the worker, its runner
        server.terminate()
        server.wait(240)
        _, alive = psutil.wait_procs(family, timeout=60)
        for p in alive:
            p.kill()
    assert not alive, f"still running after tunewise serve stopped: {alive}"
    return _outcome(done.stdout)


def _outcome(stdout: str) -> list[str]:
    """[last status, fine-tuned model name, the model's answer] from the script's output."""
    lines = stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("ft:"))
    return [lines[at - 1], lines[at], "\n".join(lines[at + 1 :])]


def test_readme_shows_the_script_unchanged() -> None:
    readme = (REPO / "README.md").read_text()
    script = (EXAMPLE / "finetune.py").read_text()
    body = script.split("\n", 2)[2]  # after the two comment lines on how to run it
    assert body.strip() in readme


def test_seed_script_on_the_tiny_model(tmp_path: Path, tiny_model: Path) -> None:
    train = {"compute_dtype": "float32", "max_length": 512, "batch_size": 8}
    lines = run_seed_script(tmp_path, str(tiny_model), train, timeout=600)
    status, name, answer = lines
    assert status == "succeeded"
    assert name.startswith("ft:gpt-4o-mini-2024-07-18:tunewise::")
    # The script exits 0 only if the chat call answered; a random tiny model's text is noise.
    assert answer != "None"


@pytest.mark.integration
def test_seed_script_on_the_bundled_model(tmp_path: Path) -> None:
    lines = run_seed_script(tmp_path, "smollm2-135m", {"max_length": 512}, timeout=3600)
    status, name, answer = lines
    assert status == "succeeded"
    assert name.startswith("ft:gpt-4o-mini-2024-07-18:tunewise::")
    print("answer of", name, ":", answer)
    assert answer.strip()
