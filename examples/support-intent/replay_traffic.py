"""Replay two weeks of support-desk traffic as request-log rows (deterministic, stdlib only).

    python examples/support-intent/replay_traffic.py --out requests.jsonl
    tunewise monitor support-intent --requests requests.jsonl --since 14d

Week 1 looks like the training data: the same ticket templates (new fills), the same intent mix,
and takeover attempts (bare, or an instruction appended to a real ticket) in the training data's
share. Week 2 brings what production brings: new phrasing (a new app release and a paid membership
the training data never saw, written tersely and in lower case) for half the tickets, and a shifted
mix (technical and account tickets surge after the release).

Answers: by default the served model is simulated, so the monitor can be tried without a model:
a ticket in the trained style is answered correctly 94% of the time, a new-style ticket 60% of the
time, with a wrong intent 30% and non-JSON prose 10% (rows say `"answer_source": "simulated"`).
With `--base-url` every ticket is sent to an OpenAI-compatible endpoint instead (e.g.
`tunewise serve`), whose real answers are written and which logs the requests itself.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SEED = 20240612


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate_data", HERE / "generate_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()
# (intent, priority, template): phrasing and topics (the app 4.0 release, the Nimbus Plus
# membership, parcel lockers) that the training templates never use.
NEW_TEMPLATES = [
    ("technical", "high", "since the app 4.0 update my {product} wont sync at all, tried reinstalling twice. fix pls"),
    ("technical", "high", "new firmware bricked my {product}?? its stuck on the boot logo since {date}"),
    ("technical", "medium", "bluetooth pairing loop on the {product} after app v4, it connects then drops every {days} sec"),
    ("technical", "medium", "app 4.0 widget shows the {product} offline but the thing is clearly on"),
    ("account", "high", "cant get into nimbus plus, it says my 2fa code expired every single time"),
    ("account", "high", "got logged out after the app update and the verification sms never comes. order {order} is stuck"),
    ("account", "medium", "how do i merge my two nimbus plus logins into one, the app made a second one"),
    ("billing", "high", "nimbus plus renewed at {amount} even tho auto-renew was OFF"),
    ("billing", "medium", "you billed my membership twice this month, {amount} each time"),
    ("shipping", "medium", "locker code for order {order} never came thru, the parcel locker is holding my {product}"),
    ("refund", "medium", "membership cancelled on {date} but no prorated refund of {amount} yet"),
    ("cancellation", "medium", "pls end my nimbus plus membership, not worth it anymore"),
    ("product_question", "low", "does nimbus plus cover accidental damage on the {product}?"),
    ("other", "low", "love the new app design tbh, great job"),
]  # fmt: skip
WEEK2_WEIGHTS = {"technical": 3.0, "account": 2.5, "billing": 1.0, "shipping": 0.8, "refund": 0.6,
                 "cancellation": 0.6, "product_question": 0.6, "other": 0.5}  # fmt: skip


def _ticket(rng: random.Random, week: int) -> tuple[str, str, str, str | None, str]:
    """(text, intent, priority, order id, style) of one ticket."""
    if week == 1 or rng.random() < 0.5:
        pool, style = GEN.TEMPLATES, "trained"
    else:
        pool, style = NEW_TEMPLATES, "new"
    if week == 1:
        intent, priority, template = rng.choice(pool)
    else:
        weights = [WEEK2_WEIGHTS[t[0]] for t in pool]
        intent, priority, template = rng.choices(pool, weights=weights)[0]
    text, order = GEN._fill(rng, template)
    if style == "new":  # terse: no opener or closer, lower case as typed on a phone
        text = template.format(order=order or "", product=rng.choice(GEN.PRODUCTS).lower(),
                               amount=f"${rng.randint(5, 30)}.99", date=f"{rng.choice(GEN.MONTHS)} {rng.randint(1, 28)}",
                               days=rng.randint(2, 9))  # fmt: skip
    return text, intent, priority, order, style


# Takeover attempts' shares of the training tickets (bare ones; real tickets with an appended
# instruction), so trained-style traffic carries them as the training data does.
_TICKETS = GEN.N_GOOD + len(GEN.HIJACKS) + GEN.N_SUFFIXED_HIJACKS
_NOT_OTHER = sum(t[0] != "other" for t in GEN.TEMPLATES) / len(GEN.TEMPLATES)
BARE_SHARE = len(GEN.HIJACKS) / _TICKETS
SUFFIXED_SHARE = GEN.N_SUFFIXED_HIJACKS / _TICKETS / _NOT_OTHER  # drawn among non-`other` tickets


def _takeover(
    rng: random.Random, text: str, intent: str, priority: str, order: str | None
) -> tuple[str, str, str, str | None]:
    """A trained-style ticket, sometimes turned into a takeover attempt labelled as training labels
    them (bare: other / low; appended instruction: the ticket's own labels)."""
    draw = rng.random()
    if draw < BARE_SHARE:
        text, _ = GEN._fill(rng, rng.choice(GEN.HIJACKS))
        return text, "other", "low", None
    if draw < BARE_SHARE + SUFFIXED_SHARE and intent != "other":
        wrong = rng.choice([i for i in GEN.INTENTS if i != intent])
        text += rng.choice(GEN.HIJACK_SUFFIXES).format(intent=wrong)
    return text, intent, priority, order


def simulated_answer(
    rng: random.Random, intent: str, priority: str, order: str | None, style: str
) -> str:
    """The stand-in model: right on trained-style tickets, often wrong on new ones."""
    right = 0.94 if style == "trained" else 0.60
    draw = rng.random()
    if draw < right:
        return GEN._answer(intent, priority, order)
    if style == "new" and draw > 0.90:
        return f"This looks like a {intent} question, I would route it to the {intent} team."
    wrong = rng.choice([i for i in GEN.INTENTS if i != intent])
    return GEN._answer(wrong, priority, order)


def generate_rows(
    start: datetime,
    per_day: int,
    text_share: float = 0.25,
    days: int = 14,
    seed: int = SEED,
    model: str = "support-intent-v1",
    feature: str = "support-intent",
) -> list[dict[str, Any]]:
    """Request-log rows for `days` days from `start` (week 2 starts on day 8)."""
    rng = random.Random(seed)
    # Its own generator, so the tickets drawn from `rng` stay those of earlier releases.
    takeover_rng = random.Random(seed + 1)
    rows = []
    for day in range(days):
        week = 1 if day < 7 else 2
        for i in range(per_day):
            text, intent, priority, order, style = _ticket(rng, week)
            if style == "trained":
                text, intent, priority, order = _takeover(
                    takeover_rng, text, intent, priority, order
                )
            at = start + timedelta(days=day, seconds=86400 * (i + rng.random()) / per_day)
            user = hashlib.sha256(f"user-{rng.randint(1, 5000)}".encode()).hexdigest()[:16]
            answer = simulated_answer(rng, intent, priority, order, style)
            row: dict[str, Any] = {
                "time": at.isoformat().replace("+00:00", "Z"), "request_id": f"replay-{day:02d}-{i:06d}",
                "feature": feature, "arm": "control", "model": model, "user": user,
                "latency_ms": round(60 * math.exp(rng.gauss(0, 0.35)), 1),
                "tokens_in": 150 + len(text.split()) * 4 // 3, "tokens_out": len(answer) // 4,
                "status": 200, "answer_source": "simulated",
                "replay": {"week": week, "style": style, "expected": json.loads(GEN._answer(intent, priority, order))},
            }  # fmt: skip
            if rng.random() < text_share:
                row["prompt"] = [
                    {"role": "system", "content": GEN.SYSTEM},
                    {"role": "user", "content": text},
                ]
                row["answer"] = answer
            rows.append(row)
    return rows


def _send(rows: list[dict[str, Any]], base_url: str, api_key: str, feature: str) -> None:
    """Send every ticket through an OpenAI-compatible endpoint; real answers replace simulated ones."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=api_key)
    for row in rows:
        prompt = row.get("prompt") or [{"role": "system", "content": GEN.SYSTEM},
                                       {"role": "user", "content": "(not sampled)"}]  # fmt: skip
        reply = client.chat.completions.create(
            model=feature, messages=prompt, user=row["user"], max_tokens=48
        )
        row["answer_source"] = "endpoint"
        if "prompt" in row:
            row["answer"] = reply.choices[0].message.content or ""


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="JSONL file of request-log rows")
    p.add_argument("--per-day", type=int, default=400, help="requests per day (default 400)")
    p.add_argument(
        "--text-share", type=float, default=0.25, help="share of rows with prompt/answer text"
    )
    p.add_argument("--start", help="first day (ISO date; default: 14 days before today, UTC)")
    p.add_argument("--model", default="support-intent-v1", help="model name written in the rows")
    p.add_argument(
        "--base-url", help="OpenAI-compatible endpoint to send tickets to (real answers)"
    )
    p.add_argument("--api-key", default="tunewise", help="key for --base-url")
    args = p.parse_args(argv)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (
        datetime.fromisoformat(args.start).replace(tzinfo=UTC)
        if args.start
        else today - timedelta(days=14)
    )
    rows = generate_rows(start, args.per_day, args.text_share, model=args.model)
    if args.base_url:
        _send(rows, args.base_url, args.api_key, "support-intent")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(args.out)
    print(
        f"wrote {len(rows)} rows ({sum('prompt' in r for r in rows)} with text) to {args.out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
