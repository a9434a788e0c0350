"""Uploaded files checked as JSONL, then against OpenAI's rules with OpenAI's messages, then made
into a dataset version by the data stage under the server's policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ft_helpers import chat_rows, dpo_rows, write_jsonl

from tunewise.serve.errors import InvalidRequest
from tunewise.serve.finetune.checks import FileProblem, check_file
from tunewise.serve.finetune.config import DataPolicy
from tunewise.serve.finetune.uploads import check_jsonl


def test_jsonl_check_counts_examples_and_skips_blank_lines(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", chat_rows(3))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes() + b"\n\r\n")
    assert check_jsonl(path) == 3


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"messages": []}\n{"messages": [}\n', "Line 2 is not valid JSON"),
        (b'{"messages": []}\n{"a": "caf\xe9"}\n', "Line 2 is not valid UTF-8 (byte 10)"),
        (b"[1, 2]\n", "Line 1 is not a JSON object"),
        (b"\n\n", "The file is empty"),
        (b"name,answer\nx,y\n", "Line 1 is not valid JSON"),
    ],
)
def test_jsonl_check_names_the_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(InvalidRequest) as err:
        check_jsonl(path)
    assert err.value.param == "file"
    assert err.value.message.startswith("Invalid file format for Fine-Tuning API.")
    assert expected in err.value.message


def test_too_few_examples_is_invalid_n_examples(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", chat_rows(7))
    with pytest.raises(FileProblem) as err:
        check_file(path, param="training_file", method="supervised", min_examples=10)
    assert err.value.code == "invalid_n_examples"
    assert err.value.param == "training_file"
    assert err.value.message == (
        "Training file has 7 example(s), but must have at least 10 examples"
    )


def test_message_without_role_uses_openais_words(tmp_path: Path) -> None:
    rows = chat_rows(12)
    del rows[4]["messages"][1]["role"]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    with pytest.raises(FileProblem) as err:
        check_file(path, param="training_file", method="supervised", min_examples=10)
    assert err.value.code == "invalid_training_file"
    assert err.value.message.startswith(
        "The job failed due to an invalid training file. Invalid file format. "
        "Example 5, message 2 Discriminator 'role' is missing in value"
    )


def test_chat_rows_for_a_dpo_job(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", chat_rows(12))
    with pytest.raises(FileProblem) as err:
        check_file(path, param="training_file", method="dpo", min_examples=10)
    assert err.value.code == "invalid_training_file"
    assert "Example 1: a dpo job needs preference rows" in err.value.message
    assert "got chat rows" in err.value.message
    dpo = write_jsonl(tmp_path / "d.jsonl", dpo_rows(12))
    assert len(check_file(dpo, param="training_file", method="dpo", min_examples=10)) == 12
    with pytest.raises(FileProblem, match="a supervised job needs chat rows"):
        check_file(dpo, param="validation_file", method="supervised")


def test_schema_problem_names_example_and_field(tmp_path: Path) -> None:
    rows = chat_rows(12)
    rows[2]["messages"][2]["role"] = "bot"
    path = write_jsonl(tmp_path / "v.jsonl", rows)
    with pytest.raises(FileProblem) as err:
        check_file(path, param="validation_file", method="supervised")
    assert err.value.code == "invalid_validation_file"
    assert "Example 3: messages[2].role: 'bot' is not one of" in err.value.message


def test_dataset_version_from_uploads(tmp_path: Path, tiny_model: Path) -> None:
    from tunewise.serve.finetune.dataset import build_dataset

    train = write_jsonl(tmp_path / "training.jsonl", chat_rows(12))
    valid = write_jsonl(tmp_path / "validation.jsonl", chat_rows(4, seed=100))
    out = tmp_path / "ds"
    v = build_dataset(train, valid, out, base=str(tiny_model), policy=DataPolicy(), min_examples=10)
    assert (v.train, v.validation) == (12, 4)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["train.jsonl"]["rows"] == 12
    assert [i["file"] for i in manifest["inputs"]] == ["training.jsonl", "validation.jsonl"]
    again = build_dataset(
        train, valid, tmp_path / "ds2", base=str(tiny_model), policy=DataPolicy(), min_examples=10
    )
    assert again.sha256 == v.sha256  # same content and policy: the same dataset version


def test_policy_dedup_and_pii(tmp_path: Path, tiny_model: Path) -> None:
    from tunewise.serve.finetune.dataset import build_dataset

    rows = chat_rows(12)
    train = write_jsonl(tmp_path / "training.jsonl", rows + rows[:3])
    v = build_dataset(
        train,
        None,
        tmp_path / "ds",
        base=str(tiny_model),
        policy=DataPolicy(dedup=True),
        min_examples=10,
    )
    assert v.train == 12 and v.dropped == {"duplicates_exact": 3}
    rejects = (tmp_path / "ds" / "rejects.jsonl").read_text().splitlines()
    assert len(rejects) == 3  # nothing lost: the dropped rows are kept with their reason
    rows[0]["messages"][1]["content"] = "mail me at jane.doe@example.com"
    write_jsonl(train, rows)
    with pytest.raises(FileProblem) as err:
        build_dataset(
            train,
            None,
            tmp_path / "ds3",
            base=str(tiny_model),
            policy=DataPolicy(pii="fail"),
            min_examples=10,
        )
    assert err.value.code == "pii_found"
    with pytest.raises(FileProblem, match="after the server's data policy removed 3"):
        build_dataset(
            write_jsonl(train, chat_rows(10) + chat_rows(3)),
            None,
            tmp_path / "ds4",
            base=str(tiny_model),
            policy=DataPolicy(dedup=True),
            min_examples=11,
        )
