"""Augmentation (explicit opt-in): entity swap.

For a row whose assistant answer is a JSON object with `cfg.field` (top level) and whose user text
contains that value verbatim, `entity_swap` makes `cfg.copies` new rows with a fresh value of the
same shape (each digit replaced by a digit, letters and punctuation kept: `ORD-48213` ->
`ORD-90517`; a value without digits gets fresh letters of the same case instead) written into the user text and the answer together.
The model learns to copy the identifier from the ticket rather than memorize it.

New rows are tagged `augmented` (plus `augmented_from:<id>`), have provenance `synthetic` (so the
synthetic-share cap counts them) and keep the original's source file and line. Values come from a
generator seeded by (cfg.seed, original row id, copy number): identical input, identical output.
"""

from __future__ import annotations

import copy
import json
import random
import re
import string
from collections.abc import Sequence
from typing import Any

from tunewise.data.config import AugmentConfig
from tunewise.data.schema import Row, Source, text_of


def _fresh(value: str, rng: random.Random) -> str:
    """Same shape: digits replaced when there are any (letters kept: `ORD-` stays), else letters."""
    swap_letters = not any(c.isdigit() for c in value)
    out = []
    for i, ch in enumerate(value):
        if ch.isdigit():
            out.append(rng.choice("123456789" if i == 0 else string.digits))
        elif swap_letters and "a" <= ch <= "z":
            out.append(rng.choice(string.ascii_lowercase))
        elif swap_letters and "A" <= ch <= "Z":
            out.append(rng.choice(string.ascii_uppercase))
        else:
            out.append(ch)
    return "".join(out)


def _swap_in(text: str, old: str, new: str) -> str:
    """Replace `old` where it stands as a whole token (not inside a longer identifier)."""
    return re.sub(rf"(?<![0-9A-Za-z]){re.escape(old)}(?![0-9A-Za-z])", new, text)


def _eligible(row: Row, field: str) -> tuple[dict[str, Any], str] | None:
    if row.kind != "sft":
        return None
    try:
        obj = json.loads(row.answer())
    except ValueError:
        return None
    if (
        not isinstance(obj, dict)
        or isinstance(obj.get(field), bool)
        or not isinstance(obj.get(field), str | int)
    ):
        return None
    value = str(obj[field])
    if not value or not any(c.isalnum() for c in value):
        return None
    users = " ".join(text_of(m.get("content")) for m in row.messages if m.get("role") == "user")
    if not re.search(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", users):
        return None
    return obj, value


def _swapped_row(row: Row, obj: dict[str, Any], field: str, old: str, new: str) -> Row:
    messages = copy.deepcopy(row.messages)
    last = max(i for i, m in enumerate(messages) if m.get("role") == "assistant")
    new_obj = dict(obj)
    new_obj[field] = int(new) if isinstance(obj[field], int) else new
    for i, m in enumerate(messages):
        if m.get("role") == "system" or not isinstance(m.get("content"), str):
            continue
        if i == last:
            answer = _swap_in(m["content"], old, new)
            try:  # keep the answer's own formatting when the textual swap is exact
                ok = json.loads(answer) == new_obj
            except ValueError:
                ok = False
            m["content"] = answer if ok else json.dumps(new_obj, ensure_ascii=False)
        else:
            m["content"] = _swap_in(m["content"], old, new)
    return Row(
        messages=messages,
        source=Source(row.source.file, row.source.line),
        kind=row.kind,
        tools=copy.deepcopy(row.tools),
        parallel_tool_calls=row.parallel_tool_calls,
        provenance="synthetic",
        tags=[*row.tags, "augmented", f"augmented_from:{row.id}"],
    )


def entity_swap(rows: Sequence[Row], cfg: AugmentConfig) -> list[Row]:
    """New rows with `cfg.field` swapped for a fresh same-shape value in user text and answer.

    Returns only the new rows (in input order, copies together); the input rows are untouched.
    """
    out: list[Row] = []
    for row in rows:
        found = _eligible(row, cfg.field)
        if found is None:
            continue
        obj, old = found
        used = {old}
        for n in range(cfg.copies):
            rng = random.Random(f"{cfg.seed}:{row.id}:{n}")
            new = _fresh(old, rng)
            for _ in range(20):
                if new not in used:
                    break
                new = _fresh(old, rng)
            else:  # too few possible values (a one-digit id): skip
                continue
            used.add(new)
            out.append(_swapped_row(row, obj, cfg.field, old, new))
    return out
