"""Rehearsal: the base model's own answers to general prompts, mixed into SFT against forgetting.

A fine-tune on a few hundred rows of one narrow task pulls a small model away from everything
else (on the quickstart the general suite fell from 80% to 45%). Replaying the base model's own
greedy answers to varied general prompts keeps its behaviour there anchored while it learns the
task: a form of self-distillation that needs no outside data.

- The pool: `rehearsal_pool.jsonl` (320 prompts written for tunewise: arithmetic, facts, language,
  formatting, short writing, explanations, advice, reasoning, code, harmful requests and safe ones
  that sound risky), disjoint from the forgetting suite (a test checks it), or the user's JSONL.
- Answers are generated once per base model, keyed by its content hash, and cached per prompt under
  `TUNEWISE_CACHE/rehearsal/<base hash>/`; a run generates only the prompts it needs that the cache
  lacks. Answers cut off by the budget are left out (training on them would teach stopping short).
- A run with `share` s and n task rows adds round(n * s / (1 - s)) rehearsal rows (at most the pool
  allows), so s of each epoch's rows are rehearsal. Validation stays task-only: its loss is the
  task's, which early stopping and the search's pruner read.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_json, atomic_write_jsonl, sha256_json
from tunewise.errors import ConfigError
from tunewise.train.config import RehearsalConfig

Messages = list[dict[str, Any]]
ORDER_SEED = 0
"""Seed of the pool's order: fixed (not train.seed) so every run of a base reuses one cache."""
GEN_BATCH = 16


def load_pool(spec: str) -> list[dict[str, Any]]:
    """The prompts as [{"id", "messages"}]: 'builtin' or a JSONL path (ConfigError names bad lines)."""
    if spec == "builtin":
        text = resources.files("tunewise.train").joinpath("rehearsal_pool.jsonl").read_text("utf-8")
        where = "rehearsal_pool.jsonl"
    else:
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(
                f"train.rehearsal.pool: {path} not found (use 'builtin' or a JSONL file)"
            )
        text, where = path.read_text(encoding="utf-8"), str(path)
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            messages = row.get("messages") or [{"role": "user", "content": row["prompt"]}]
            assert isinstance(messages, list) and messages[-1]["role"] == "user"
        except (ValueError, KeyError, TypeError, AssertionError, AttributeError):
            raise ConfigError(
                f'{where} line {n}: expected {{"prompt": TEXT}} or {{"messages": [..., user turn]}}'
            ) from None
        out.append({"id": str(row.get("id") or f"line-{n}"), "messages": messages})
    if not out:
        raise ConfigError(f"train.rehearsal.pool: {where} has no prompts")
    return out


def rows_needed(n_task: int, share: float) -> int:
    """Rehearsal rows that make `share` of an epoch next to n_task task rows."""
    if share <= 0 or n_task <= 0:
        return 0
    return round(n_task * share / (1 - share))


def cache_folder(base_hash: str) -> Path:
    from tunewise.models import cache_dir

    return cache_dir() / "rehearsal" / base_hash[:32]


def rehearsal_rows(
    base_folder: Path,
    cfg: RehearsalConfig,
    n_task: int,
    *,
    generate: bool = True,
    log: Callable[..., None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The chat rows to mix in for n_task task rows, and a report of where they came from.

    With `generate=False` only cached answers are used (ranks other than 0 of a distributed run).
    """
    from tunewise.models import model_hash

    report: dict[str, Any] = {"share": cfg.share, "pool": cfg.pool, "wanted": 0, "rows": 0}
    want = rows_needed(n_task, cfg.share)
    if not cfg.enabled or want == 0:
        return [], report
    pool = load_pool(cfg.pool)
    random.Random(ORDER_SEED).shuffle(pool)
    pool = pool[: cfg.pool_size]
    base_hash = model_hash(base_folder)
    cache = _Cache(cache_folder(base_hash), base_hash, cfg.max_new_tokens)
    # Unfinished answers are skipped, so ask for more prompts until `want` usable rows exist,
    # unless most answers run past the budget (then more prompts would only cost time).
    rows: list[dict[str, Any]] = []
    generated, seconds, start, unfinished = 0, 0.0, 0, 0
    while len(rows) < want and start < len(pool) and unfinished * 2 <= max(start, 1):
        chunk = pool[start : start + max(GEN_BATCH, want - len(rows))]
        start += len(chunk)
        missing = [p for p in chunk if cache.get(p) is None]
        if missing and generate:
            t0 = time.perf_counter()
            cache.fill(base_folder, missing)
            generated, seconds = generated + len(missing), seconds + time.perf_counter() - t0
        for p in chunk:
            hit = cache.get(p)
            if hit is None:
                continue
            if not (hit["finished"] and hit["answer"].strip()):
                unfinished += 1
            elif len(rows) < want:
                rows.append(_row(p, hit["answer"]))
    report.update(
        wanted=want,
        rows=len(rows),
        prompts_tried=start,
        unfinished=unfinished,
        generated=generated,
        generate_s=round(seconds, 1),
        cache=str(cache.path),
        base_hash=base_hash,
        max_new_tokens=cfg.max_new_tokens,
    )
    if log:
        short = ""
        if len(rows) < want:
            short = (
                f" ({unfinished} of {start} answers ran past max_new_tokens "
                f"{cfg.max_new_tokens}, or the pool of {len(pool)} ran out)"
            )
        log(
            f"rehearsal: {len(rows)} rows of the base model's own answers (share {cfg.share:.0%}"
            f" of {n_task} task rows){short}; {generated} generated in {seconds:.0f} s, "
            f"the rest from {cache.path}",
            level="warn" if short else "info",
        )
    return rows, report


def _row(prompt: dict[str, Any], answer: str) -> dict[str, Any]:
    return {
        "id": f"rehearsal:{prompt['id']}",
        "messages": [*prompt["messages"], {"role": "assistant", "content": answer}],
    }


class _Cache:
    """Answers of one base model at one budget, per prompt: `answers-<budget>.jsonl` + manifest."""

    def __init__(self, folder: Path, base_hash: str, max_new_tokens: int) -> None:
        self.folder = folder
        self.path = folder / f"answers-{max_new_tokens}.jsonl"
        self.base_hash, self.max_new_tokens = base_hash, max_new_tokens
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    e = json.loads(line)
                    self.entries[e["key"]] = e
                except (ValueError, KeyError, TypeError):
                    continue  # a damaged line is generated again, never trusted

    @staticmethod
    def key(prompt: dict[str, Any]) -> str:
        return sha256_json(prompt["messages"])

    def get(self, prompt: dict[str, Any]) -> dict[str, Any] | None:
        return self.entries.get(self.key(prompt))

    def fill(self, base_folder: Path, prompts: list[dict[str, Any]]) -> None:
        """Generate greedy answers (fp32, like the forgetting suite sees the base) and save them."""
        from tunewise import infer

        gens = infer.generate(
            [p["messages"] for p in prompts],
            str(base_folder),
            max_new_tokens=self.max_new_tokens,
            batch_size=GEN_BATCH,
        )
        infer.unload()  # training loads its own copy; do not keep two in memory
        for p, g in zip(prompts, gens, strict=True):
            self.entries[self.key(p)] = {
                "key": self.key(p),
                "id": p["id"],
                "answer": g.text,
                "finished": g.finished,
                "tokens_out": g.tokens_out,
            }
        # Whole-file rewrite, atomically: a crash keeps the previous cache intact.
        atomic_write_jsonl(self.path, sorted(self.entries.values(), key=lambda e: e["key"]))
        atomic_write_json(
            self.folder / "manifest.json",
            {
                "base_hash": self.base_hash,
                "generator": "tunewise.infer greedy, float32",
                "max_new_tokens": self.max_new_tokens,
                "answers": len(self.entries),
            },
        )
