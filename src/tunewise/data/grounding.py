"""Grounding: facts in an answer that the prompt never gave.

A model trained on answers that cite order numbers, dates or names absent from its input learns
to invent them (the classic case: final support emails kept without the ticket they were written
from). `ungrounded_entities` lists such facts so the quality rules can reject the row.

What counts as a fact, extracted from the answer (for a JSON answer: from its string and number
values, never its keys):

- emails and URLs;
- dates (`2024-03-05`, `3/5/2024`, `March 5`, `5 March 2024`), compared as (month, day[, year]) so
  a date written another way in the prompt still counts as grounded;
- identifiers: tokens holding a digit (`#48213`, `ORD-48213`, `SKU12`, `$1,200.00`), compared
  without case, a leading `#`/`$` or thousands separators; bare one-digit numbers are ignored
  (`1 item`, `within 2 days` are too common to flag);
- capitalized names (`Sarah Connor`, `Acme Corp`) that are not the first word of a sentence and not
  a common word (`I`, `Hi`, `Thanks`, weekday greetings ...).

A fact is grounded when it appears, normalized, in the context or matches the allow list (for
example the enum values of the output schema). Cheap heuristics, not NLP: precise on the things
that matter (ids, amounts, dates), conservative on names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_MONTH_RE = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"')\]]+", re.I)
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_DATE_SLASH = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})\b")
_DATE_MD = re.compile(
    rf"\b({_MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?", re.I
)
_DATE_DM = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_RE})(?:,?\s+(\d{{4}})\b)?", re.I
)
_DIGIT_TOKEN = re.compile(r"[#$€£]?[A-Za-z0-9](?:[\w/-]*[A-Za-z0-9])?(?:[.,]\d+)*")
_CAP_RUN = re.compile(r"\b[A-Z][\w'&-]*(?:[ \t]+(?:of[ \t]+|de[ \t]+|van[ \t]+)?[A-Z][\w'&-]*)*")
_OPENERS = frozenset(".!?:;\n-*•\"'(")
_THOUSANDS = re.compile(r"(?<=\d)[,\s'](?=\d{3}\b)")

# Capitalized words that are not facts even mid-sentence (after a comma, in a title-cased phrase).
COMMON_WORDS = frozenset(
    [
        "i",
        "i'm",
        "i've",
        "i'll",
        "i'd",
        "hi",
        "hello",
        "hey",
        "dear",
        "thanks",
        "thank",
        "please",
        "yes",
        "no",
        "ok",
        "okay",
        "sorry",
        "sure",
        "the",
        "a",
        "an",
        "our",
        "your",
        "my",
        "we",
        "you",
        "they",
        "he",
        "she",
        "it",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "mr",
        "mrs",
        "ms",
        "dr",
        "best",
        "regards",
        "kind",
        "sincerely",
        "cheers",
        "team",
        "support",
        "customer",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "today",
        "tomorrow",
        "json",
        "note",
        "subject",
        "re",
        "fwd",
    ]
)


def _norm(text: str) -> str:
    """Lowercase, drop thousands separators, collapse whitespace."""
    return " ".join(_THOUSANDS.sub("", text.lower()).split())


def _norm_token(tok: str) -> str:
    tok = _THOUSANDS.sub("", tok.lower()).lstrip("#$€£")
    tok = tok.replace(",", "")
    if re.fullmatch(r"\d+\.0+", tok):  # 1200.00 and 1200 are the same amount
        tok = tok.split(".")[0]
    return tok


def _date_keys(text: str) -> set[tuple[int, int, int | None]]:
    """(month, day, year|None) of every date in text; slash dates yield both readings."""
    keys: set[tuple[int, int, int | None]] = set()
    for y, m, d in _DATE_ISO.findall(text):
        keys.add((int(m), int(d), int(y)))
    for a, b, y in _DATE_SLASH.findall(text):
        year = int(y) + (2000 if len(y) == 2 else 0)
        keys.update({(int(a), int(b), year), (int(b), int(a), year)})
    for mon, d, y in _DATE_MD.findall(text):
        keys.add((_MONTHS[mon.lower().rstrip(".")], int(d), int(y) if y else None))
    for d, mon, y in _DATE_DM.findall(text):
        keys.add((_MONTHS[mon.lower().rstrip(".")], int(d), int(y) if y else None))
    return keys


def _date_grounded(key: tuple[int, int, int | None], ctx: set[tuple[int, int, int | None]]) -> bool:
    m, d, y = key
    return any(cm == m and cd == d and (y is None or cy is None or cy == y) for cm, cd, cy in ctx)


def _json_values(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _json_values(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _json_values(v)
    elif isinstance(obj, bool) or obj is None:
        return
    elif isinstance(obj, int | float | str):
        yield str(obj)


def answer_texts(answer: str) -> list[str]:
    """The pieces of an answer to check: JSON string/number values, or the text itself."""
    stripped = answer.strip()
    if stripped[:1] in "{[":
        try:
            return list(_json_values(json.loads(stripped)))
        except ValueError:
            pass
    return [answer]


_MAYBE_FACT = re.compile(r"[0-9A-Z@]|www\.")


def _candidates(text: str) -> Iterator[tuple[int, str, str, Any]]:
    """(position, kind, surface text, key) of every fact-like span, masking spans already taken."""
    if not _MAYBE_FACT.search(text):  # e.g. "refund", "high": nothing to check
        return
    taken: list[tuple[int, int]] = []

    def free(m: re.Match[str]) -> bool:
        s, e = m.span()
        if any(s < te and ts < e for ts, te in taken):
            return False
        taken.append((s, e))
        return True

    for rx in (_EMAIL, _URL):
        for m in rx.finditer(text):
            if free(m):
                yield m.start(), "text", m.group().rstrip(".,;:!?"), None
    for rx in (_DATE_ISO, _DATE_SLASH, _DATE_MD, _DATE_DM):
        for m in rx.finditer(text):
            if free(m):
                yield m.start(), "date", m.group(), _date_keys(m.group())
    for m in _DIGIT_TOKEN.finditer(text):
        tok = m.group()
        if not any(c.isdigit() for c in tok) or (tok.isdigit() and len(tok) == 1):
            continue
        if free(m):
            yield m.start(), "token", tok, None
    for m in _CAP_RUN.finditer(text):
        words = m.group().split()
        before = text[max(0, m.start() - 40) : m.start()].rstrip(" \t")
        at_start = m.start() == 0 or not before or before[-1] in _OPENERS
        while words and words[0].lower() in COMMON_WORDS:
            words.pop(0)
            at_start = False
        if not words or (at_start and len(words) == 1) or any(c.isdigit() for c in "".join(words)):
            continue
        if len(words) == 1 and len(words[0]) <= 3 and words[0].isupper():  # AI, OK, FAQ
            continue
        if free(m):
            # At a sentence start the first word may be capitalized only for that reason.
            yield m.start(), "name", " ".join(words), at_start


def _in_context(tok: str, ctx_norm: str) -> bool:
    """`tok` occurs in the context as a whole token (not inside a longer word or number)."""
    if not tok:
        return True
    at = ctx_norm.find(tok)
    while at >= 0:
        end = at + len(tok)
        if (at == 0 or not ctx_norm[at - 1].isalnum()) and (
            end == len(ctx_norm) or not ctx_norm[end].isalnum()
        ):
            return True
        at = ctx_norm.find(tok, at + 1)
    return False


def ungrounded_entities(answer: str, context: str, allow: Iterable[str] = ()) -> list[str]:
    """Facts (ids, numbers, dates, names, emails, URLs) in `answer` that `context` never mentions.

    Returns the surface strings in answer order, without repeats. `allow` lists tokens that are
    always fine (compared without case), e.g. enum values of the output schema.
    """
    found = [
        c[1:]
        for piece in answer_texts(answer)
        for c in sorted(_candidates(piece), key=lambda c: c[0])
    ]
    if not found:
        return []
    allowed = {_norm(a) for a in allow}
    ctx_norm = _norm(context)
    ctx_tokens: set[str] | None = None
    ctx_dates: set[tuple[int, int, int | None]] | None = None
    out: list[str] = []
    for kind, surface, key in found:
        if surface in out or _norm(surface) in allowed:
            continue
        if kind == "date":
            if ctx_dates is None:
                ctx_dates = _date_keys(context)
            if any(_date_grounded(k, ctx_dates) for k in key):
                continue
            if _in_context(_norm(surface), ctx_norm):
                continue
        elif kind == "token":
            tok = _norm_token(surface)
            if tok in allowed or _in_context(tok, ctx_norm):
                continue
            if ctx_tokens is None:
                ctx_tokens = {_norm_token(m.group()) for m in _DIGIT_TOKEN.finditer(context)}
            if tok in ctx_tokens:
                continue
        elif _in_context(_norm(surface), ctx_norm):
            continue
        elif kind == "name" and key:
            rest = _norm(surface.split(" ", 1)[1])
            if rest in allowed or _in_context(rest, ctx_norm):
                continue
        out.append(surface)
    return out


def format_reason(entities: list[str]) -> str:
    """The quality rule's reason text for ungrounded facts."""
    listed = ", ".join(repr(e) for e in entities[:8]) + (
        f" (+{len(entities) - 8} more)" if len(entities) > 8 else ""
    )
    verb = "appears" if len(entities) == 1 else "appear"
    return f"ungrounded: {listed} {verb} in the answer but nowhere in the system or user turns"
