"""A job's files checked the way OpenAI checks them, with OpenAI's messages for the classic mistakes.

Rows are read by the data stage's loader and checked against OpenAI's chat / preference schema
(`tunewise.data.targets`). The first problem fails the job, as on OpenAI: fewer examples than
the minimum is `invalid_n_examples` ("Training file has 7 example(s), but must have at least 10
examples"); anything else is `invalid_training_file` (or `invalid_validation_file`) with
"The job failed due to an invalid training file. Invalid file format. Example N, ..." and what
to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunewise.data.schema import Row

DPO_SHAPE = "preference rows (input, preferred_output, non_preferred_output)"
CHAT_SHAPE = "chat rows (messages)"


@dataclass
class FileProblem(Exception):
    """Why a job's file cannot be trained on: OpenAI's error object fields."""

    code: str
    message: str
    param: str

    def __str__(self) -> str:
        return self.message

    def as_error(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "param": self.param}


def _kind(param: str) -> str:
    return "training" if param == "training_file" else "validation"


def _invalid(param: str, detail: str) -> FileProblem:
    which = _kind(param)
    return FileProblem(
        f"invalid_{which}_file",
        f"The job failed due to an invalid {which} file. Invalid file format. {detail}",
        param,
    )


def check_file(path: Path, *, param: str, method: str, min_examples: int = 0) -> list[Row]:
    """The file's rows if a `method` job (supervised | dpo) can train on them; FileProblem if not."""
    from tunewise.data.config import InputConfig
    from tunewise.data.loaders import load_file

    loaded = load_file(path, InputConfig())
    for reject in sorted(loaded.rejects, key=lambda r: r.source.line):
        reason = reject.reasons[0].split(": ", 1)[-1]
        if reason.startswith("empty line"):
            continue  # blank lines are not examples; OpenAI skips them too
        raise _invalid(param, f"Example {reject.source.line}: {reason}")
    want = "dpo" if method == "dpo" else "sft"
    for row in loaded.rows:
        problem = row_problem(row, want)
        if problem:
            raise _invalid(param, f"Example {row.source.line}{problem}")
    if len(loaded.rows) < min_examples:
        raise FileProblem(
            "invalid_n_examples",
            f"{_kind(param).capitalize()} file has {len(loaded.rows)} example(s), but must have "
            f"at least {min_examples} examples",
            param,
        )
    return loaded.rows


def row_problem(row: Row, want: str) -> str | None:
    """What is wrong with one example for a job of kind `want` (sft | dpo), or None."""
    from tunewise.data.targets import parse_target, validate_row

    if row.kind != want:
        need, got = (DPO_SHAPE, CHAT_SHAPE) if want == "dpo" else (CHAT_SHAPE, DPO_SHAPE)
        method = "dpo" if want == "dpo" else "supervised"
        return (
            f": a {method} job needs {need}, got {got}; upload a file of {need} or create the "
            f"job with method type {'supervised' if want == 'dpo' else 'dpo'}"
        )
    for i, m in enumerate(row.messages, start=1):
        if "role" not in m:
            return (
                f", message {i} Discriminator 'role' is missing in value; every message "
                "needs a role (system, user, assistant or tool)"
            )
    problems = validate_row(row, parse_target("openai:gpt-4o-mini-2024-07-18"))
    return f": {problems[0]}" if problems else None
