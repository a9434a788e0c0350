"""Deduplication: exact (normalized hash) and near-duplicate (MinHash LSH) rows.

Text is normalized (lowercase, punctuation stripped, whitespace collapsed) before anything else,
so `Refund please!` and `refund please` are exact duplicates. The first row in input order is
kept as a cluster's representative; every dropped row's reason names it.

Near-duplicates use MinHash over word shingles with locality-sensitive banding, implemented here
with numpy over all rows at once. datasketch's batch API (`MinHash.bulk`, numpy per row, then
MinHashLSH) took 2.3x as long on 10k rows and dropped the same rows but one
(`python bench/data_prepare.py --only dedup`, bench/results/dedup.json):

1. every distinct word is hashed once (blake2b, 8 bytes); a shingle's hash combines its words'
   hashes with vectorized 64-bit arithmetic, then is folded to 32 bits;
2. the `num_perm` hash functions are Dietzfelbinger multiply-add-shift hashes
   `((a*x + b) mod 2^64) >> 32` (a 2-independent family, like datasketch's `(a*x + b) mod p`),
   evaluated for all shingles at once and reduced per row with `np.minimum.reduceat`;
3. the signature is cut into `b` bands of `r` values, with `(b, r)` chosen like datasketch's
   MinHashLSH (minimizing the false positive and false negative areas around the threshold) but
   weighting misses 9:1, because every candidate is verified anyway: a false positive costs a
   comparison, a false negative keeps a duplicate (64 perms at 0.85: 7 bands of 9, a pair at
   J=0.90 becomes a candidate 97% of the time, one at J=0.5 1.4% of the time);
4. rows are visited in input order: a row is a near-duplicate when it shares a band with an
   earlier *kept* row and their estimated Jaccard (share of equal signature values) reaches the
   threshold; otherwise it is kept and indexed. Verifying against kept rows only avoids chaining
   (A~B, B~C does not drop C unless C~A).

Everything is seeded, so results are identical from run to run and machine to machine.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from tunewise.data.config import DedupConfig
from tunewise.data.schema import Row

_WORD = re.compile(r"\w+")
_SEED = 0x7475_6E65  # "tune"
_M64 = np.uint64(0x9E3779B97F4A7C15)
_CHUNK = 1 << 17  # shingles per vectorized block (x num_perm x 8 bytes of scratch)


@dataclass
class DedupResult:
    """What `find_duplicates` decided."""

    dropped: dict[str, str] = field(default_factory=dict)
    """Row id -> reason naming the kept representative (id and source line)."""
    clusters: list[list[str]] = field(default_factory=list)
    """Row ids of each duplicate cluster, representative first (clusters of 2+ rows only)."""
    exact: int = 0
    """Rows dropped as exact duplicates."""
    near: int = 0
    """Rows dropped as near-duplicates."""


def normalize(text: str) -> str:
    """Lowercase words only: punctuation stripped, whitespace collapsed."""
    return " ".join(_WORD.findall(text.lower()))


@lru_cache(maxsize=16)
def _perms(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_SEED)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


@lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) minimizing 0.1 x false positive + 0.9 x false negative area."""
    xs = np.linspace(0.0, 1.0, 2001)
    lo, hi = xs <= threshold, xs >= threshold
    best, best_err = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p = 1.0 - (1.0 - xs**r) ** b
            fp = np.sum((p[lo][1:] + p[lo][:-1]) / 2 * np.diff(xs[lo]))
            fn = np.sum((2 - p[hi][1:] - p[hi][:-1]) / 2 * np.diff(xs[hi]))
            err = 0.1 * fp + 0.9 * fn
            if err < best_err:
                best, best_err = (b, r), err
    return best


def _word_hashes(words: list[str]) -> np.ndarray:
    """Stable 64-bit hash of every word (blake2b, computed once per distinct word)."""
    table = {
        w: int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
        for w in dict.fromkeys(words)
    }
    return np.fromiter(map(table.__getitem__, words), dtype=np.uint64, count=len(words))


def signatures(
    texts: Sequence[str], num_perm: int, shingle_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures (n x num_perm, uint32) of normalized texts, and a mask of rows with words.

    A row shorter than `shingle_size` words gets one shingle of all its words.
    """
    n, k = len(texts), shingle_size
    words = " ".join(texts).split()
    lengths = np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=n)
    sig = np.full((n, num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    has = lengths > 0
    if not words:
        return sig, has
    hashes = _word_hashes(words)
    n_sh = np.where(has, np.maximum(lengths - k + 1, 1), 0)
    base = np.cumsum(lengths) - lengths  # first word of each row in `words`
    first = np.cumsum(n_sh) - n_sh  # first shingle of each row
    total = int(n_sh.sum())
    pos = np.arange(total) - np.repeat(first, n_sh)  # shingle position inside its row
    starts = np.repeat(base, n_sh) + pos
    room = np.repeat(lengths, n_sh) - pos  # words left in the row from this shingle on
    last = len(words) - 1
    with np.errstate(over="ignore"):
        sh = hashes[starts]
        for t in range(1, k):
            nxt = np.where(room > t, hashes[np.minimum(starts + t, last)], np.uint64(0x5A5A))
            sh = (sh * _M64) ^ nxt
        sh = (sh ^ (sh >> np.uint64(29))) * _M64
        x = sh >> np.uint64(32)
    a, b = _perms(num_perm)
    rows_with = np.flatnonzero(has)
    row_first = first[rows_with]
    # Whole rows per block, so reduceat segments never straddle blocks; (perm, shingle) layout
    # keeps the reduction contiguous in memory.
    i = 0
    while i < len(rows_with):
        j = max(int(np.searchsorted(row_first, row_first[i] + _CHUNK, side="left")), i + 1)
        s0 = int(row_first[i])
        s1 = int(row_first[j]) if j < len(rows_with) else total
        with np.errstate(over="ignore"):
            vals = ((a[:, None] * x[None, s0:s1] + b[:, None]) >> np.uint64(32)).astype(np.uint32)
        sig[rows_with[i:j]] = np.minimum.reduceat(vals, row_first[i:j] - s0, axis=1).T
        i = j
    return sig, has


def _band_keys(sig: np.ndarray, bands: int, r: int) -> list[list[int]]:
    keys = []
    with np.errstate(over="ignore"):
        for band in range(bands):
            k = np.full(sig.shape[0], band + 1, dtype=np.uint64)
            for col in sig[:, band * r : (band + 1) * r].T:
                k = (k ^ col.astype(np.uint64)) * _M64
            keys.append(k.tolist())
    return keys


class _Index:
    """LSH tables over kept rows; `best` verifies candidates by estimated Jaccard."""

    def __init__(self, sig: np.ndarray, threshold: float, num_perm: int) -> None:
        self.sig, self.threshold = sig, threshold
        bands, r = lsh_params(threshold, num_perm)
        self.keys = _band_keys(sig, bands, r)
        self.tables: list[dict[int, list[int]]] = [{} for _ in range(bands)]
        # Rows alone in every bucket of every band can neither match nor be matched: skip them.
        shared = np.zeros(sig.shape[0], dtype=bool)
        for keys in self.keys:
            _, inverse, counts = np.unique(
                np.asarray(keys, dtype=np.uint64), return_inverse=True, return_counts=True
            )
            shared |= counts[inverse] > 1
        self.shared = shared

    def best(self, i: int) -> tuple[int, float]:
        if not self.shared[i]:
            return -1, 0.0
        cands: set[int] = set()
        for table, k in zip(self.tables, self.keys, strict=True):
            hit = table.get(k[i])
            if hit:
                cands.update(hit)
        if not cands:
            return -1, 0.0
        idx = np.fromiter(sorted(cands), dtype=np.int64, count=len(cands))
        sims = (self.sig[idx] == self.sig[i]).mean(axis=1)
        j = int(np.argmax(sims))  # ties: the earliest row
        return (int(idx[j]), float(sims[j])) if sims[j] >= self.threshold else (-1, 0.0)

    def add(self, i: int) -> None:
        if not self.shared[i]:
            return
        for table, k in zip(self.tables, self.keys, strict=True):
            table.setdefault(k[i], []).append(i)


def find_duplicates(rows: Sequence[Row], cfg: DedupConfig) -> DedupResult:
    """Exact and near-duplicate rows over user + assistant text; the first occurrence is kept."""
    texts = [normalize(r.text(("user", "assistant"))) for r in rows]
    rep = list(range(len(rows)))  # each row's representative index (itself when kept)
    reason: dict[int, str] = {}
    result = DedupResult()
    if cfg.exact:
        first: dict[str, int] = {}
        for i, t in enumerate(texts):
            k = first.setdefault(t, i)
            if k != i:
                rep[i] = k
                reason[i] = f"exact duplicate of {rows[k].id} ({rows[k].source})"
                result.exact += 1
    if cfg.near:
        survivors = [i for i in range(len(rows)) if rep[i] == i]
        sig, has = signatures([texts[i] for i in survivors], cfg.num_perm, cfg.shingle_size)
        index = _Index(sig, cfg.threshold, cfg.num_perm)
        for local, i in enumerate(survivors):
            if not has[local]:
                continue
            match, sim = index.best(local)
            if match < 0:
                index.add(local)
                continue
            k = survivors[match]
            rep[i] = k
            reason[i] = f"near-duplicate (J≈{sim:.2f}) of {rows[k].id} ({rows[k].source})"
            result.near += 1
    clusters: dict[int, list[int]] = {}
    for i in range(len(rows)):
        k = rep[i]
        if k != i and rep[k] != k:  # exact copy of a row that was itself a near-duplicate
            reason[i] += f", itself a {reason[k]}"
            k = rep[i] = rep[k]
        if k != i:
            clusters.setdefault(k, [k]).append(i)
    result.dropped = {rows[i].id: why for i, why in reason.items()}
    result.clusters = [[rows[i].id for i in members] for _, members in sorted(clusters.items())]
    return result


def cross_duplicates(
    candidates: Sequence[Row],
    references: Sequence[Row],
    cfg: DedupConfig,
    label: str | Callable[[Row], str] = "held-out",
) -> dict[str, str]:
    """Candidates whose prompt (user turns, system stripped) duplicates a reference row's: leakage.

    Exact duplicates are always reported; near-duplicates when `cfg.near`. Returns candidate id ->
    reason, e.g. `leak: exact duplicate of golden row r-... (golden.jsonl line 3)` with label="golden"
    (or a function naming each reference row's split).
    """
    name = label if callable(label) else (lambda _ref: label)
    ref_texts = [normalize(r.text(("user",))) for r in references]
    cand_texts = [normalize(r.text(("user",))) for r in candidates]
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    for j, t in enumerate(ref_texts):
        first.setdefault(t, j)
    for i, t in enumerate(cand_texts):
        j = first.get(t, -1)
        if j >= 0:
            ref = references[j]
            out[candidates[i].id] = (
                f"leak: exact duplicate of {name(ref)} row {ref.id} ({ref.source})"
            )
    if not cfg.near or not references or not candidates:
        return out
    sig, has = signatures(ref_texts + cand_texts, cfg.num_perm, cfg.shingle_size)
    index = _Index(sig, cfg.threshold, cfg.num_perm)
    for j in range(len(references)):
        if has[j]:
            index.add(j)
    for i, row in enumerate(candidates):
        q = len(references) + i
        if row.id in out or not has[q]:
            continue
        match, sim = index.best(q)
        if match >= 0:
            ref = references[match]
            out[row.id] = (
                f"leak: near-duplicate (J≈{sim:.2f}) of {name(ref)} row {ref.id} ({ref.source})"
            )
    return out
