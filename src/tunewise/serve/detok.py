"""Incremental detokenization for streaming: text deltas that are correct across token boundaries.

A byte-level BPE token may hold half of a UTF-8 character, and a tokenizer may merge or respace
tokens when they are decoded together. Decoding each token alone is therefore wrong; decoding the
whole answer at every step is right but quadratic. This keeps a short window instead (the approach
of vLLM's and TGI's detokenizers): decode from a prefix offset, emit what lies past the text already
sent, and hold back text that ends in an incomplete character. Stop strings are held back while
the text so far could still be the start of one.
"""

from __future__ import annotations

from typing import Any


class IncrementalDecoder:
    """Turns generated token ids, one at a time, into text deltas; `stopped` once a stop string shows."""

    def __init__(self, tokenizer: Any, stop: list[str] | tuple[str, ...] = ()) -> None:
        self._tok = tokenizer
        self._ids: list[int] = []
        self._prefix = 0  # ids[_prefix:_read] decode to text already counted in `text`
        self._read = 0
        self._stop = [s for s in stop if s]
        self.text = ""  # decoded text so far (up to a stop string once stopped)
        self._released = 0  # characters of `text` handed out as deltas
        self.stopped = False

    def push(self, token_id: int) -> str:
        """Add one token; return the text that can be sent now (possibly empty)."""
        if self.stopped:
            return ""
        self._ids.append(token_id)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.text += after[len(before) :]
            self._prefix, self._read = self._read, len(self._ids)
        return self._release(final=False)

    def finish(self) -> str:
        """The rest of the text at the end of generation (an incomplete character included)."""
        if not self.stopped:
            before = self._decode(self._ids[self._prefix : self._read])
            after = self._decode(self._ids[self._prefix :])
            self.text += after[len(before) :]
        return self._release(final=True)

    def _decode(self, ids: list[int]) -> str:
        return str(self._tok.decode(ids, skip_special_tokens=True)) if ids else ""

    def _release(self, *, final: bool) -> str:
        if self._stop and not self.stopped:
            start = max(0, self._released - max(len(s) for s in self._stop))
            hits = [i for i in (self.text.find(s, start) for s in self._stop) if i >= 0]
            if hits:
                self.text = self.text[: min(hits)]
                self.stopped = True
        end = len(self.text)
        if not (final or self.stopped):
            end -= self._held_back()
        delta = self.text[self._released : end]
        self._released = max(self._released, end)
        return delta

    def _held_back(self) -> int:
        """Length of the longest end of `text` that could still grow into a stop string."""
        for n in range(
            min(len(self.text), max((len(s) for s in self._stop), default=1) - 1), 0, -1
        ):
            tail = self.text[-n:]
            if any(s.startswith(tail) for s in self._stop):
                return n
        return 0
