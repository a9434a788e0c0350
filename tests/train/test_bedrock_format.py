"""Dataset rows in each Bedrock family's format, and the train config as its hyperparameters."""

from __future__ import annotations

import json

import pytest
from train_rows import SYSTEM, chat_row

from tunewise.errors import ConfigError, DataError
from tunewise.train.bedrock_format import (
    FAMILIES,
    convert_file,
    convert_row,
    family_for,
    hyperparameters,
)
from tunewise.train.config import TrainConfig


def _cfg(**kw):
    bedrock = kw.pop("bedrock", {})
    return TrainConfig.model_validate({**kw, "bedrock": bedrock})


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        ("amazon.nova-micro-v1:0:128k", "nova"),
        ("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0:300k", "nova"),
        ("anthropic.claude-3-haiku-20240307-v1:0:200k", "claude-3-haiku"),
        ("meta.llama3-1-8b-instruct-v1:0:128k", "llama3.1"),
        ("meta.llama3-2-1b-instruct-v1:0:128k", "llama3.2"),
        ("amazon.titan-text-express-v1:0:8k", "titan"),
    ],
)
def test_family_from_model_id(model_id, family):
    assert family_for(model_id).name == family


def test_unknown_model_id_names_the_field():
    with pytest.raises(ConfigError, match=r"train\.bedrock\.base_model: 'smollm2-135m'"):
        family_for("smollm2-135m")


def test_converse_format_for_nova_and_llama32():
    row = chat_row(3)
    for name in ("nova", "llama3.2"):
        out = convert_row(row, FAMILIES[name])
        assert out == {
            "schemaVersion": "bedrock-conversation-2024",
            "system": [{"text": SYSTEM}],
            "messages": [
                {"role": "user", "content": [{"text": "What is 3 plus 4?"}]},
                {"role": "assistant", "content": [{"text": '{"sum": 7}'}]},
            ],
        }


def test_claude_haiku_gets_system_and_alternating_string_messages():
    row = chat_row(1)
    row["messages"] += [
        {"role": "user", "content": [{"type": "text", "text": "And times two?"}]},
        {"role": "assistant", "content": "8"},
    ]
    out = convert_row(row, FAMILIES["claude-3-haiku"])
    assert out["system"] == SYSTEM
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user", "assistant"]
    assert out["messages"][2]["content"] == "And times two?"


def test_prompt_completion_for_llama31_and_titan_leads_with_the_system_text():
    out = convert_row(chat_row(2), FAMILIES["llama3.1"])
    assert out == {"prompt": f"{SYSTEM}\n\nWhat is 2 plus 1?", "completion": '{"sum": 3}'}
    bare = chat_row(2)
    bare["messages"] = bare["messages"][1:]
    assert convert_row(bare, FAMILIES["titan"])["prompt"] == "What is 2 plus 1?"


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_claude_row_that_does_not_alternate_names_file_line_and_field(tmp_path):
    bad = chat_row(5)
    bad["messages"].insert(2, {"role": "user", "content": "again?"})
    src = _write(tmp_path / "train.jsonl", [chat_row(1), chat_row(2), bad])
    src.write_text(src.read_text().replace("\n", "\n\n", 1))  # a blank line shifts line numbers
    with pytest.raises(DataError) as err:
        convert_file(src, tmp_path / "out.jsonl", FAMILIES["claude-3-haiku"])
    text = str(err.value)
    assert f"{src} line 4: messages[2].role" in text
    assert "alternating user/assistant" in text and "--target bedrock:claude-3-haiku" in text
    assert not (tmp_path / "out.jsonl").exists()


def test_rows_bedrock_cannot_train_on_are_all_listed(tmp_path):
    multi = chat_row(1)
    multi["messages"] += [
        {"role": "user", "content": "more"},
        {"role": "assistant", "content": "x"},
    ]
    weighted = chat_row(2)
    weighted["messages"][2]["weight"] = 0
    tool = chat_row(3)
    tool["tools"] = [{"type": "function", "function": {"name": "f"}}]
    dpo = {
        "input": {"messages": [{"role": "user", "content": "q"}]},
        "preferred_output": [{"role": "assistant", "content": "a"}],
        "non_preferred_output": [{"role": "assistant", "content": "b"}],
    }
    src = _write(tmp_path / "train.jsonl", [multi, weighted, tool, dpo, chat_row(4)])
    with pytest.raises(DataError) as err:
        convert_file(src, tmp_path / "out.jsonl", FAMILIES["llama3.1"])
    text = str(err.value)
    assert text.startswith("4 row(s) cannot be trained on Meta Llama 3.1")
    assert "line 1: messages: bedrock:llama3.1 trains on prompt/completion pairs" in text
    assert "line 2: messages[2].weight" in text
    assert "line 3: tools:" in text
    assert "line 4: preferred_output:" in text


def test_weight_one_is_accepted_and_dropped(tmp_path):
    row = chat_row(1)
    row["messages"][2]["weight"] = 1
    src = _write(tmp_path / "train.jsonl", [row])
    assert convert_file(src, tmp_path / "out.jsonl", FAMILIES["nova"]) == 1
    assert "weight" not in (tmp_path / "out.jsonl").read_text()


def test_broken_json_line_is_named(tmp_path):
    src = tmp_path / "train.jsonl"
    src.write_text(json.dumps(chat_row(1)) + "\n{not json\n")
    with pytest.raises(DataError, match=r"train\.jsonl line 2: not valid JSON"):
        convert_file(src, tmp_path / "out.jsonl", FAMILIES["nova"])


def test_hyperparameter_names_per_family():
    cfg = _cfg(epochs=3, learning_rate=5e-5, batch_size=16, early_stopping_patience=4)
    nova, ignored = hyperparameters(cfg, FAMILIES["nova"])
    assert nova == {"epochCount": "3", "learningRate": "0.00005"}
    assert ignored == ["batch_size", "early_stopping_patience"]
    haiku, ignored = hyperparameters(cfg, FAMILIES["claude-3-haiku"])
    assert haiku == {"epochCount": "3", "batchSize": "16", "earlyStoppingPatience": "4"}
    assert ignored == [
        "learning_rate (Bedrock: train.bedrock.hyperparameters.learningRateMultiplier)"
    ]
    llama, _ = hyperparameters(_cfg(epochs=2, learning_rate=1e-4), FAMILIES["llama3.1"])
    assert llama == {"epochCount": "2", "learningRate": "0.0001"}


def test_local_defaults_are_not_sent_and_bedrock_names_win():
    params, ignored = hyperparameters(TrainConfig(), FAMILIES["nova"])
    assert params == {} and ignored == []
    cfg = _cfg(
        epochs=3, bedrock={"hyperparameters": {"epochCount": 1, "learningRateWarmupSteps": 5}}
    )
    params, _ = hyperparameters(cfg, FAMILIES["nova"])
    assert params == {"epochCount": "1", "learningRateWarmupSteps": "5"}


def test_out_of_range_and_unknown_hyperparameters_are_reported_together():
    cfg = _cfg(
        batch_size=4,
        learning_rate=0.5,
        bedrock={"hyperparameters": {"learningRateMultiplier": 1.0, "epochCount": 2.5}},
    )
    with pytest.raises(ConfigError) as err:
        hyperparameters(cfg, FAMILIES["llama3.1"])
    text = str(err.value)
    assert "train.batch_size (batchSize): 4 is outside Meta Llama 3.1's range 1..1" in text
    assert "train.learning_rate (learningRate): 0.5 is outside" in text
    assert "has no hyperparameter 'learningRateMultiplier'" in text
    assert "epochCount): 2.5 must be a whole number" in text


def test_dpo_is_refused():
    with pytest.raises(ConfigError, match="dpo is not available"):
        hyperparameters(_cfg(method="dpo"), FAMILIES["nova"])
