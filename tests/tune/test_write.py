"""Writing the best settings back: a new file next to the user's by default, the file itself with
--write, comments kept, and nothing written when the values do not validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunewise.config import load_config
from tunewise.errors import ConfigError
from tunewise.tune.write import write_tuned

CONFIG = """\
# my project
project: demo
train:
  base: smollm2-135m   # the bundled model
  epochs: auto
  lora:
    r: 16
data:
  inputs: [data/rows.jsonl]
"""
BEST = {"train.learning_rate": 0.0007, "train.epochs": 6, "train.lora.r": 8,
        "train.lora.target_modules": ["q_proj", "v_proj"], "train.rehearsal.share": 0.3}  # fmt: skip


def test_a_new_file_next_to_the_users_keeps_their_comments(tmp_path: Path):
    path = tmp_path / "tunewise.yaml"
    path.write_text(CONFIG)
    dest, kept = write_tuned(path, BEST, write=False, note="# tuned by tunewise tune")
    assert dest == tmp_path / "tunewise.tuned.yaml" and kept
    assert path.read_text() == CONFIG  # untouched
    text = dest.read_text()
    assert text.startswith("# tuned by tunewise tune")
    assert "# the bundled model" in text and "# my project" in text
    cfg = load_config(dest)
    assert cfg.train.learning_rate == 0.0007 and cfg.train.epochs == 6 and cfg.train.lora.r == 8
    assert cfg.train.lora.target_modules == ["q_proj", "v_proj"]
    assert cfg.train.rehearsal.share == 0.3
    assert cfg.resolve(cfg.data.inputs[0]) == tmp_path / "data" / "rows.jsonl"


def test_write_updates_the_file_in_place(tmp_path: Path):
    path = tmp_path / "tunewise.yaml"
    path.write_text(CONFIG)
    dest, _ = write_tuned(path, BEST, write=True, note="# ignored in place")
    assert dest == path and not (tmp_path / "tunewise.tuned.yaml").exists()
    text = path.read_text()
    assert "ignored in place" not in text and "# the bundled model" in text
    assert load_config(path).train.epochs == 6


def test_values_that_do_not_validate_write_nothing(tmp_path: Path):
    path = tmp_path / "tunewise.yaml"
    path.write_text(CONFIG)
    with pytest.raises(ConfigError, match=r"train\.lora\.r"):
        write_tuned(path, {"train.lora.r": 0}, write=True, note="")
    assert path.read_text() == CONFIG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tunewise.yaml"]
