"""Production rows for review: `tunewise monitor --export-review FILE` writes them, a person (or a
rule, or the judge) fills `answer`, and `tunewise retrain` reads the filled ones back.

One JSON object a line:

    {"request_id": "replay-08-000012", "time": "2026-05-11T00:17:08+00:00",
     "model": "support-intent-v1", "prompt": "since the app 4.0 update ...",
     "model_answer": "{\\"intent\\": \\"account\\", ...}",
     "answer": null, "labelled_by": null}

A row counts as reviewed once `answer` holds the correct answer (copy `model_answer` when the model
was right). `labelled_by` says who labelled it: `human` (the default once `answer` is filled),
`rule` or `judge`. Rows with `"skip": true` or no answer are left out. The exported rows are a
seeded uniform sample of the window's logged texts (already PII-scrubbed by the gateway); a review
the log already carries (`review.answer`) comes pre-filled.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_text
from tunewise.errors import DataError
from tunewise.monitor.requests import Request
from tunewise.monitor.stream import Reservoir

LABELLERS = ("human", "rule", "judge")


def review_row(req: Request) -> dict[str, Any]:
    """The review line of one logged request (its text must have been sampled)."""
    done = req.review.get("answer") if isinstance(req.review, dict) else None
    return {
        "request_id": req.request_id,
        "time": req.time.isoformat(),
        "model": req.model,
        "prompt": req.prompt,
        "model_answer": req.answer,
        "answer": done if isinstance(done, str) else None,
        "labelled_by": "human" if isinstance(done, str) else None,
    }


def export_review(
    requests: Iterable[Request], out: str | Path, *, limit: int, seed: int = 0
) -> dict[str, Any]:
    """Write up to `limit` rows with a logged prompt and answer (a seeded uniform sample, in time
    order) to `out`; returns counts. Reads the requests once, keeping only the sample."""
    sample: Reservoir[Request] = Reservoir(limit, seed)
    for req in requests:
        if req.ok and req.prompt and req.answer is not None:
            sample.add(req)
    rows = sorted(sample.items, key=lambda r: (r.time, r.request_id or ""))
    text = "".join(json.dumps(review_row(r), ensure_ascii=False) + "\n" for r in rows)
    atomic_write_text(Path(out), text)
    prefilled = sum(r.review is not None for r in rows)
    return {"path": str(out), "rows": len(rows), "with_text": sample.seen, "prefilled": prefilled}


@dataclass
class Reviewed:
    """The reviewed rows of a review file, as training rows, and what was left out."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: int = 0
    unreviewed: int = 0
    skipped: int = 0
    labelled_by: Counter[str] = field(default_factory=Counter)
    corrected: int = 0
    """Reviewed rows whose answer differs from what the model said."""

    def summary(self) -> dict[str, Any]:
        return {"lines": self.lines, "reviewed": len(self.rows), "unreviewed": self.unreviewed,
                "skipped": self.skipped, "corrected": self.corrected,
                "labelled_by": dict(sorted(self.labelled_by.items()))}  # fmt: skip


def _lines(path: str | Path) -> Iterator[tuple[Path, int, dict[str, Any], str]]:
    """(file, line number, row, state) of each non-blank line of a review file; state is
    'skipped', 'unreviewed' or 'reviewed' (a reviewed row's fields checked). DataError names the
    file, line and field of a malformed line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(
            f"{p}: review file not found; write one with tunewise monitor FEATURE --export-review {p}"
        )
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = _parse(p, n, line)
        answer = row.get("answer")
        if row.get("skip") is True:
            yield p, n, row, "skipped"
        elif answer is None or (isinstance(answer, str) and not answer.strip()):
            yield p, n, row, "unreviewed"
        else:
            _check(p, n, row, row.get("labelled_by") or "human")
            yield p, n, row, "reviewed"


def load_reviewed(path: str | Path, system: str | None) -> Reviewed:
    """Training rows (`messages`, provenance `production`) from the filled lines of a review file;
    `system` is prepended as the system message (the logged prompt is the user's text only).
    DataError names the file, line and field of a malformed line."""
    out = Reviewed()
    for _, _, row, state in _lines(path):
        out.lines += 1
        if state == "skipped":
            out.skipped += 1
            continue
        if state == "unreviewed":
            out.unreviewed += 1
            continue
        answer = row["answer"]
        out.labelled_by[row.get("labelled_by") or "human"] += 1
        out.corrected += answer != row.get("model_answer")
        messages = [
            {"role": "user", "content": row["prompt"]},
            {"role": "assistant", "content": answer},
        ]
        if system:
            messages.insert(0, {"role": "system", "content": system})
        out.rows.append({"messages": messages, "provenance": "production"})
    return out


def review_answers(path: str | Path) -> dict[str, str]:
    """request_id -> reviewed answer, from the filled lines of a review file (skipped and empty
    lines left out); DataError names the file, line and field of a malformed line."""
    out: dict[str, str] = {}
    for p, n, row, state in _lines(path):
        if state != "reviewed":
            continue
        if not isinstance(row.get("request_id"), str) or not row["request_id"]:
            raise DataError(
                f"{p}:{n}: field 'request_id': a reviewed row needs the request id it was exported with"
            )
        out[row["request_id"]] = row["answer"]
    return out


def with_reviews(requests: Iterable[Request], answers: dict[str, str]) -> Iterator[Request]:
    """The requests, with the reviewed answer attached where the log carries none."""
    for req in requests:
        if req.review is None and req.request_id in answers:
            req.review = {"answer": answers[req.request_id]}
        yield req


def _parse(p: Path, n: int, line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise DataError(f"{p}:{n}: not valid JSON ({exc.args[0] if exc.args else exc})") from None
    if not isinstance(row, dict):
        raise DataError(f"{p}:{n}: expected a JSON object, got {type(row).__name__}")
    return row


def _check(p: Path, n: int, row: dict[str, Any], by: Any) -> None:
    if not isinstance(row["answer"], str):
        raise DataError(f"{p}:{n}: field 'answer' must be a string (the correct answer), got {type(row['answer']).__name__}")  # fmt: skip
    if not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
        raise DataError(f"{p}:{n}: field 'prompt' is missing or empty")
    if by not in LABELLERS:
        raise DataError(
            f"{p}:{n}: field 'labelled_by' is {by!r}; use one of {', '.join(LABELLERS)}"
        )
