"""The built-in regex PII engine: fast, dependency-free, no names.

Finds EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD (Luhn-checked), IP_ADDRESS (v4 and v6, checked
with `ipaddress`), IBAN_CODE (mod-97 checked) and US_SSN (dashed `123-45-6789` form, invalid
area numbers excluded). Patterns are tried in that priority; a later match overlapping an earlier
one is dropped, so the domain of an email is never reported as a URL or phone number. Phone
numbers need 7-15 digits in a common layout (`+1 (415) 555-0134`, `020 7946 0958`, `555-0134`
is too short) and are never read out of ISO dates or longer identifiers (`ORD-4821-5512`).
"""

from __future__ import annotations

import ipaddress
import re

REGEX_ENTITIES = frozenset(
    {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IP_ADDRESS", "IBAN_CODE", "US_SSN"}
)

# Patterns start with a character class (no leading lookbehind) so `re` can skip ahead quickly;
# the "not glued to a longer token" checks on the left happen in Python (`_LEFT`).
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_SSN = re.compile(r"(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])"
)
_IPV6 = re.compile(r"[0-9A-Fa-f:](?:[0-9A-Fa-f]{0,4}:){1,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_PHONE = re.compile(
    r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,5}(?:[ .-]\d{2,5}){1,3}(?![\w/-]|\.\d)"
    r"|\+\d{8,15}\b"
)
_LEFT = {
    "EMAIL_ADDRESS": "",
    "CREDIT_CARD": "-",
    "IBAN_CODE": "",
    "US_SSN": "-",
    "IP_ADDRESS": ".:",
    "PHONE_NUMBER": "+/.-",
}
_NON_DIGIT = re.compile(r"\D+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_ok(value: str) -> bool:
    s = value.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _card_ok(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return 13 <= len(digits) <= 19 and _luhn(digits) and len(set(digits)) > 1


def _ipv6_ok(value: str) -> bool:
    if value.count(":") < 2 or not any(c.isalnum() for c in value):
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _phone_ok(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    return (
        7 <= digits <= 15
        and not _ISO_DATE.fullmatch(value)
        and (value.startswith("+") or not value.isdigit())
    )


_CHECKS: list[tuple[str, re.Pattern[str], object]] = [
    ("EMAIL_ADDRESS", _EMAIL, None),
    ("CREDIT_CARD", _CARD, _card_ok),
    ("IBAN_CODE", _IBAN, _iban_ok),
    ("US_SSN", _SSN, None),
    ("IP_ADDRESS", _IPV4, None),
    ("IP_ADDRESS", _IPV6, _ipv6_ok),
    ("PHONE_NUMBER", _PHONE, _phone_ok),
]


def _inside_longer_number(text: str, s: int, e: int) -> bool:
    """Digit groups that continue on either side (`4111 1111 1111 1112`) are not a phone number."""
    left = s >= 2 and text[s - 1] in " .-" and text[s - 2].isdigit()
    right = e + 1 < len(text) and text[e] in " .-" and text[e + 1].isdigit()
    return left or right


def _wanted(kind: str, text: str, digits: int) -> bool:
    """Cheap preconditions, so most texts skip most patterns."""
    if kind == "EMAIL_ADDRESS":
        return "@" in text
    if kind == "CREDIT_CARD":
        return digits >= 13
    if kind == "IBAN_CODE":
        return digits >= 8
    if kind == "US_SSN":
        return digits >= 9 and "-" in text
    if kind == "PHONE_NUMBER":
        return digits >= 7
    return (digits >= 4 and "." in text) or text.count(":") >= 2  # IP_ADDRESS


def regex_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, entity type) of every PII match in text, non-overlapping, sorted by start."""
    digits = len(_NON_DIGIT.sub("", text))
    spans: list[tuple[int, int, str]] = []
    for kind, rx, check in _CHECKS:
        if not _wanted(kind, text, digits):
            continue
        pos = 0
        while (m := rx.search(text, pos)) is not None:
            s, e = m.span()
            pos = s + 1  # a rejected match may hide a real one starting inside it
            if s and (text[s - 1].isalnum() or text[s - 1] == "_" or text[s - 1] in _LEFT[kind]):
                continue
            if check is not None and not check(m.group()):  # type: ignore[operator]
                continue
            if kind == "PHONE_NUMBER" and _inside_longer_number(text, s, e):
                continue
            if any(s < pe and ps < e for ps, pe, _ in spans):
                continue
            spans.append((s, e, kind))
            pos = e
    return sorted(spans)
