"""Packed batches: a batch's rows laid end to end, their common prefix computed once, no padding.

Short chat rows waste most of a CPU's training time twice over: on padding, and on the tokens every
row starts with (the chat template and a shared system prompt, a third to half of a short row).
`pack` lays a batch out as a few sequences ("chunks"), each holding the shared prefix once and then
each row's remainder:

    chunk:  [prefix][row 1 rest][row 2 rest]...[row k rest][pad]
    mask:   each token sees the prefix and, causally, its own row; never another row

Positions restart per row (`position_ids` continue from the prefix), and a 4D boolean attention
mask carries the block structure, so every row's tokens see exactly what they would see alone:
hidden states, losses and gradients equal running each row on its own (the prefix's gradient is the
sum over its rows), up to float rounding. The prefix stops at least one token before the first
trained token of any row, so no loss is read from it.

A chunk holds at most `max_tokens` positions (or the longest row, if longer): attention over a
chunk costs its length squared, so a few hundred tokens keeps it small next to the matmuls. Rows are
spread over as few chunks as fit, balanced so the chunks (and the batch tensor) pad little.
`targets[c, t]` is the token that position t must predict (IGNORE where nothing is trained), so
the loss is one cross-entropy over `hidden[targets != IGNORE]`.
"""

from __future__ import annotations

import math
from typing import Any

from tunewise.train.data import IGNORE, Example

MIN_SHARED_PREFIX = 4
"""Shorter common prefixes are not worth sharing."""
MAX_TOKENS = 512
"""Default chunk length in positions."""


def shared_prefix_length(examples: list[Example]) -> int:
    """Leading tokens all rows share, ending before the position that predicts any trained token.

    0 for a single row or when the shared part is under MIN_SHARED_PREFIX tokens.
    """
    if len(examples) < 2:
        return 0
    first = examples[0].input_ids
    common = min(len(e.input_ids) for e in examples)
    for e in examples[1:]:
        ids = e.input_ids
        n = 0
        while n < common and ids[n] == first[n]:
            n += 1
        common = n
    # label at position j is predicted from position j - 1: keep that position out of the prefix
    first_label = min(
        next((j for j, x in enumerate(e.labels) if x != IGNORE), len(e.labels)) for e in examples
    )
    p = min(common, first_label - 1)
    return p if p >= MIN_SHARED_PREFIX else 0


def pack(
    examples: list[Example],
    pad_id: int,
    *,
    share_prefix: bool = True,
    max_tokens: int = MAX_TOKENS,
) -> dict[str, Any]:
    """Tensors for one batch (see the module docstring) and its token counts.

    `n_tokens` counts every row's own tokens (prefix included), the same figure an unpacked batch
    reports; `n_positions` the positions actually computed (padding included); `n_shared` the
    prefix tokens not recomputed.
    """
    import torch

    p = shared_prefix_length(examples) if share_prefix else 0
    budget = max(max_tokens, max(len(e.input_ids) for e in examples))
    chunks = _balanced_chunks(examples, p, budget)
    lengths = [_chunk_len(c, p) for c in chunks]
    width = max(lengths)
    n = len(chunks)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    pos = torch.zeros((n, width), dtype=torch.long)
    targets = torch.full((n, width), IGNORE, dtype=torch.long)
    seg = torch.full((n, width), -1, dtype=torch.long)  # -1: shared prefix
    for c, rows in enumerate(chunks):
        shared = p if len(rows) > 1 else 0
        t = 0
        if shared:
            ids[c, :shared] = torch.tensor(rows[0].input_ids[:shared])
            pos[c, :shared] = torch.arange(shared)
            t = shared
        for r, e in enumerate(rows):
            rest = e.input_ids[shared:]
            k = len(rest)
            ids[c, t : t + k] = torch.tensor(rest)
            pos[c, t : t + k] = torch.arange(shared, shared + k)
            seg[c, t : t + k] = r
            # position i predicts token i + 1 of the same row
            targets[c, t : t + k - 1] = torch.tensor(e.labels[shared + 1 :])
            t += k
        seg[c, t:] = torch.arange(width - t) + len(rows)  # padding: each sees only itself
    causal = torch.ones((width, width), dtype=torch.bool).tril()
    same = seg[:, :, None] == seg[:, None, :]
    prefix_key = (seg == -1)[:, None, :]
    mask = (causal & (same | prefix_key))[:, None]
    n_tokens = sum(len(e.input_ids) for e in examples)
    return {
        "input_ids": ids,
        "position_ids": pos,
        "attention_mask": mask,
        "targets": targets,
        "n_tokens": n_tokens,
        "n_loss": int((targets != IGNORE).sum()),
        "n_positions": n * width,
        "n_shared": n_tokens - sum(lengths),
    }


def _balanced_chunks(examples: list[Example], p: int, budget: int) -> list[list[Example]]:
    """As few chunks as fit the budget, rows spread longest first onto the lightest chunk.

    Balanced chunks pad little: the batch tensor is as wide as its longest chunk. A chunk's length
    is p + the rows' remainders (a one-row chunk is just the row, the same number).
    """
    rests = [len(e.input_ids) - p for e in examples]
    order = sorted(range(len(examples)), key=lambda i: (-rests[i], i))
    n = max(1, math.ceil(sum(rests) / max(1, budget - p)))
    while True:  # ends: with one row per chunk every chunk is a row, within the budget
        loads = [p] * n
        members: list[list[int]] = [[] for _ in range(n)]
        for i in order:
            c = min(range(n), key=loads.__getitem__)
            loads[c] += rests[i]
            members[c].append(i)
        if max(loads) <= budget:
            return [[examples[i] for i in sorted(m)] for m in members if m]
        n += 1


def _chunk_len(rows: list[Example], p: int) -> int:
    shared = p if len(rows) > 1 else 0
    return shared + sum(len(e.input_ids) - shared for e in rows)
