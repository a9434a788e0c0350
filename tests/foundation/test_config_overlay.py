"""The one config path: file -> `{dotted.path: value}` overrides -> one validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunewise.config import ProjectConfig, apply_overrides, load_config, parse_assignments
from tunewise.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_nested_paths_are_set_and_validated() -> None:
    cfg = apply_overrides(
        ProjectConfig(),
        {
            "train.learning_rate": 1e-4,
            "train.lora.r": 4,
            "eval.max_new_tokens": 12,
            "data.pii.mode": "report",
            "project": "billing",
        },
    )
    assert (cfg.train.learning_rate, cfg.train.lora.r) == (1e-4, 4)
    assert (cfg.eval.max_new_tokens, cfg.data.pii.mode, cfg.project) == (12, "report", "billing")
    assert cfg.train.lora.alpha == 32  # untouched keys keep their values


def test_the_input_config_is_left_alone() -> None:
    cfg = ProjectConfig()
    apply_overrides(cfg, {"train.lora.r": 4, "train.lora.target_modules": ["q_proj"]})
    assert cfg.train.lora.r == 16 and "v_proj" in cfg.train.lora.target_modules


def test_lists_whole_and_by_index() -> None:
    cfg = apply_overrides(
        ProjectConfig(),
        {
            "train.lora.target_modules": ["q_proj", "v_proj"],
            "eval.scorers.0.name": "regex",
            "eval.scorers.0.params.pattern": "^ok$",  # a free-form mapping takes any key
        },
    )
    assert cfg.train.lora.target_modules == ["q_proj", "v_proj"]
    assert cfg.eval.scorers[0].name == "regex" and cfg.eval.scorers[0].params == {"pattern": "^ok$"}
    with pytest.raises(ConfigError, match=r"eval\.scorers\.99\.name: eval\.scorers has no item 99"):
        apply_overrides(ProjectConfig(), {"eval.scorers.99.name": "regex"})


def test_a_whole_section_can_be_replaced_then_refined() -> None:
    cfg = load_config(None, {"decide": {"labelled_examples": 500}, "decide.distinct_tasks": 3})
    assert (cfg.decide.labelled_examples, cfg.decide.distinct_tasks) == (500, 3)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("train.lr", "train.lr: unknown key (did you mean train.learning_rate?"),
        ("trian.lora.r", "trian.lora.r: unknown key 'trian' (did you mean train?"),
        ("data.pii.modes", "data.pii.modes: unknown key (did you mean data.pii.mode?"),
        ("train.learning_rate.x", "train.learning_rate.x: train.learning_rate is a single value"),
    ],
)
def test_an_unknown_path_is_an_error_naming_it(path: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        apply_overrides(ProjectConfig(), {path: 1})
    assert expected in str(err.value)


def test_every_bad_value_is_reported_at_once_with_its_path() -> None:
    with pytest.raises(ConfigError) as err:
        apply_overrides(
            ProjectConfig(),
            {
                "eval.max_new_tokens": -5,
                "train.learning_rate": -1.0,
                "data.pii.mode": "sometimes",
                "train.epochs": "many",
                "train.nope": 1,
            },
        )
    message = str(err.value)
    assert message.startswith("5 problem(s) in the options:")
    for line in (
        "eval.max_new_tokens: must be > 0 (set to -5)",
        "train.learning_rate: must be > 0",
        "data.pii.mode: Input should be 'report', 'redact', 'fail' or 'off' (set to 'sometimes')",
        "train.nope: unknown key",
    ):
        assert line in message, message
    # A union (int | "auto") fails on each member; the user sees one line under the key they set.
    epochs = [ln for ln in message.splitlines() if "train.epochs" in ln]
    assert len(epochs) == 1 and epochs[0].strip().startswith("train.epochs: "), message


def test_file_and_override_problems_come_together(tmp_path: Path) -> None:
    path = tmp_path / "tunewise.yaml"
    path.write_text("train:\n  lora:\n    r: 0\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, {"eval.max_new_tokens": -5})
    message = str(err.value)
    assert f"2 problem(s) in {path} and the options" in message
    assert "train.lora.r: must be > 0" in message and "eval.max_new_tokens" in message
    with pytest.raises(ConfigError, match=r"tunewise\.yaml: 1 problem\(s\):\n  train\.lora\.r"):
        load_config(path)


def test_the_config_folder_is_kept_for_relative_paths(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "tunewise.yaml").write_text("data:\n  inputs: [train.jsonl]\n")
    cfg = load_config(project / "tunewise.yaml")
    changed = apply_overrides(cfg, {"eval.golden": "golden.jsonl"})
    assert changed.resolve(changed.data.inputs[0]) == project / "train.jsonl"
    assert changed.resolve(changed.eval.golden or "") == project / "golden.jsonl"
    overridden = load_config(project / "tunewise.yaml", {"data.inputs": ["other.jsonl"]})
    assert overridden.resolve(overridden.data.inputs[0]) == project / "other.jsonl"


def test_no_file_means_the_defaults_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert cfg.model_dump() == ProjectConfig().model_dump()
    assert (
        load_config(None, {"data.inputs": ["a.jsonl"]}).resolve("a.jsonl") == tmp_path / "a.jsonl"
    )


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*/tunewise.yaml")))
def test_no_overrides_change_nothing(example: Path) -> None:
    cfg = load_config(example)
    assert apply_overrides(cfg, {}) == cfg


def test_set_values_are_yaml_except_for_text_keys() -> None:
    values = parse_assignments(
        [
            "data.pii.mode=off",  # YAML 1.1 would read a boolean
            "data.input.system_prompt=2024-01-01",  # ... and a date
            "project=1.5",  # ... and a float, for a text key
            "train.learning_rate=1e-4",  # ... and text (no dot)
            "train.epochs=3",
            "train.lora.target_modules=[q_proj, v_proj]",
            "eval.golden=null",
            "data.quality.output_regex=a=b",  # only the first '=' splits
        ]
    )
    assert values == {
        "data.pii.mode": "off",
        "data.input.system_prompt": "2024-01-01",
        "project": "1.5",
        "train.learning_rate": 1e-4,
        "train.epochs": 3,
        "train.lora.target_modules": ["q_proj", "v_proj"],
        "eval.golden": None,
        "data.quality.output_regex": "a=b",
    }
    cfg = load_config(None, values)
    assert (cfg.data.pii.mode, cfg.train.learning_rate, cfg.project) == ("off", 1e-4, "1.5")


def test_malformed_set_items_are_all_named() -> None:
    with pytest.raises(ConfigError) as err:
        parse_assignments(["train.lora.r", "=3", "train.seed=1", "train.seed=2", "eval.scorers=[a"])
    message = str(err.value)
    assert message.startswith("4 problem(s) in --set")
    assert "'train.lora.r': expected PATH=VALUE" in message
    assert "train.seed: set twice" in message
    assert "eval.scorers: value '[a' is not valid YAML" in message
