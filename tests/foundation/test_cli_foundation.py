"""The foundation: a light import, one error boundary, config validation that lists every problem."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tunewise.cli import app

runner = CliRunner()


def test_import_and_help_stay_light() -> None:
    code = (
        "import sys, tunewise, tunewise.cli\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(tunewise.cli.app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'transformers', 'presidio_analyzer', 'boto3', 'spacy', 'peft', 'trl') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported by `tunewise --help`: {out.stdout}"


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("tunewise ")


def test_config_validate_reports_every_problem_with_its_path(tmp_path: Path) -> None:
    cfg = tmp_path / "tunewise.yaml"
    cfg.write_text(
        "train:\n  lora:\n    r: 0\n  learning_rate: -1\ndata:\n  target: nowhere\n  split:\n    validation: 0.7\n    golden: 0.5\n  bogus: 1\n"
    )
    result = runner.invoke(app, ["config", "validate", str(cfg)])
    assert result.exit_code == 2
    for expected in (
        "train.lora.r: must be > 0",
        "train.learning_rate: must be > 0",
        "data.target: must look like",
        "data.split: validation + golden must be < 1",
        "data.bogus: unknown key",
    ):
        assert expected in result.output, result.output


def test_config_validate_accepts_a_good_file(tmp_path: Path) -> None:
    cfg = tmp_path / "tunewise.yaml"
    cfg.write_text("project: demo\ntrain:\n  lora:\n    r: 8\n")
    result = runner.invoke(app, ["config", "validate", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    cfg = tmp_path / "tunewise.yaml"
    cfg.write_text("train:\n  lora: [1, 2\n")
    result = subprocess.run(
        [sys.executable, "-m", "tunewise", "config", "validate", str(cfg)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "line" in result.stderr and "invalid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_is_a_clean_error_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tunewise", "config", "validate", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "no such config file" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_env_shows_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tunewise", "config", "validate", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "TUNEWISE_DEBUG": "1"},
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_schema_export_is_valid_json_schema(tmp_path: Path) -> None:
    import jsonschema

    out = tmp_path / "schema.json"
    result = runner.invoke(app, ["config", "schema", "--out", str(out)])
    assert result.exit_code == 0, result.output
    schema = json.loads(out.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors({"train": {"lora": {"r": 8}}}))
    assert list(validator.iter_errors({"train": {"lora": {"r": "eight"}}}))
    # Field docstrings become descriptions an editor can show.
    assert "LoRA rank" in out.read_text()


PIPE_GONE = """
import typer
from tunewise.cli import _Boundary

app = typer.Typer(cls=_Boundary)

@app.command()
def listing() -> None:
    raise BrokenPipeError(32, "Broken pipe")  # what print() raises once `| head` has left

@app.command()
def other() -> None:
    pass

app()
"""


def test_a_reader_that_leaves_is_not_an_internal_error() -> None:
    """`tunewise registry list | head -3`: the pipe closing early is not a bug report."""
    result = subprocess.run(
        [sys.executable, "-c", PIPE_GONE, "listing"], capture_output=True, text=True
    )
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert result.returncode == 141, result.stderr
