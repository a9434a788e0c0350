"""Model backends behind one small Protocol, registered in one place (`BACKENDS`).

A backend turns a list of conversations into completions with deterministic settings. Local
models generate in batches; remote ones (OpenAI-compatible, Bedrock) send requests from a thread
pool. Heavy clients (torch, openai, boto3) are imported only when a backend is built.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from tunewise.errors import ConfigError, TunewiseError, require

from .variants import Variant

Messages = list[dict[str, Any]]


@dataclass(frozen=True)
class Settings:
    """Generation settings that are part of every cache key."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    batch_size: int = 16
    concurrency: int = 8

    def key(self) -> dict[str, Any]:
        """The settings that change outputs (batching does not)."""
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature}


@dataclass
class Completion:
    """One answer: text, token counts, latency, and an error message when the request failed."""

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    error: str | None = None


class Backend(Protocol):
    """What the runner needs from a model."""

    def identity(self) -> dict[str, Any]:
        """Everything that pins the model's behaviour (name, hashes, endpoint); part of cache keys."""
        ...

    def complete(self, conversations: list[Messages], settings: Settings) -> list[Completion]:
        """Answers in input order."""
        ...


BACKENDS: dict[str, Callable[[Variant], Backend]] = {}


def backend(kind: str) -> Callable[[Callable[[Variant], Backend]], Callable[[Variant], Backend]]:
    """Register a backend factory for a variant kind (built-ins use this too)."""

    def deco(factory: Callable[[Variant], Backend]) -> Callable[[Variant], Backend]:
        BACKENDS[kind] = factory
        return factory

    return deco


def make_backend(variant: Variant) -> Backend:
    """The backend for a variant."""
    if variant.kind not in BACKENDS:
        raise ConfigError(
            f"no backend for variant kind '{variant.kind}'; known: {', '.join(sorted(BACKENDS))}"
        )
    return BACKENDS[variant.kind](variant)


def concurrent_map(
    fn: Callable[[Messages], Completion], items: list[Messages], workers: int
) -> list[Completion]:
    """Run one request per item from a thread pool, keeping order; failures become error completions."""

    def safe(item: Messages) -> Completion:
        t0 = time.perf_counter()
        try:
            return fn(item)
        except TunewiseError:
            raise
        except Exception as exc:  # a remote failure is recorded per case, not fatal for the run
            return Completion(
                "", latency_s=time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}"
            )

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(safe, items))


@dataclass
class LocalBackend:
    """A local base model, optionally with a PEFT adapter, generating in batches."""

    variant: Variant

    def identity(self) -> dict[str, Any]:
        from tunewise.infer import adapter_identity
        from tunewise.models import model_hash, resolve_base

        ident = {
            "kind": "local",
            "model": self.variant.model,
            "base_hash": model_hash(resolve_base(self.variant.model)),
        }
        if self.variant.adapter:
            ident["adapter_hash"] = adapter_identity(self.variant.adapter)
        return ident

    def complete(self, conversations: list[Messages], settings: Settings) -> list[Completion]:
        from tunewise.infer import generate

        gens = generate(
            conversations,
            self.variant.model,
            self.variant.adapter,
            max_new_tokens=settings.max_new_tokens,
            batch_size=settings.batch_size,
        )
        return [Completion(g.text, g.tokens_in, g.tokens_out, g.latency_s) for g in gens]


@dataclass
class OpenAIBackend:
    """Any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, Ollama, tunewise's own server)."""

    variant: Variant

    def identity(self) -> dict[str, Any]:
        return {
            "kind": "openai",
            "model": self.variant.model,
            "base_url": self.variant.base_url or "https://api.openai.com/v1",
        }

    def complete(self, conversations: list[Messages], settings: Settings) -> list[Completion]:
        openai = require("openai", "eval", "evaluating an OpenAI-compatible endpoint")
        key = os.environ.get(self.variant.api_key_env) or (
            "unused" if self.variant.base_url else None
        )
        if key is None:
            raise ConfigError(
                f"set {self.variant.api_key_env} to evaluate {self.variant.model} on OpenAI"
            )
        client = openai.OpenAI(
            base_url=self.variant.base_url, api_key=key, max_retries=3, timeout=120
        )

        def one(messages: Messages) -> Completion:
            t0 = time.perf_counter()
            resp = client.chat.completions.create(
                model=self.variant.model,
                messages=messages,
                temperature=settings.temperature,
                max_tokens=settings.max_new_tokens,
            )
            usage = resp.usage
            return Completion(
                resp.choices[0].message.content or "",
                getattr(usage, "prompt_tokens", 0) or 0,
                getattr(usage, "completion_tokens", 0) or 0,
                time.perf_counter() - t0,
            )

        return concurrent_map(one, conversations, settings.concurrency)


def to_converse(messages: Messages) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI-style messages as Bedrock converse (system blocks, alternating user/assistant turns)."""
    from tunewise.data.schema import text_of

    system = [
        {"text": text_of(m.get("content"))}
        for m in messages
        if m.get("role") in {"system", "developer"}
    ]
    turns: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        if role not in {"user", "assistant"}:
            continue
        if turns and turns[-1]["role"] == role:  # converse wants strict alternation: merge repeats
            turns[-1]["content"].append({"text": text_of(m.get("content"))})
        else:
            turns.append({"role": role, "content": [{"text": text_of(m.get("content"))}]})
    return system, turns


@dataclass
class BedrockBackend:
    """A Bedrock model through the converse API."""

    variant: Variant

    def identity(self) -> dict[str, Any]:
        return {"kind": "bedrock", "model": self.variant.model, "region": self.variant.region}

    def complete(self, conversations: list[Messages], settings: Settings) -> list[Completion]:
        boto3 = require("boto3", "eval", "evaluating a Bedrock model")
        client = boto3.client("bedrock-runtime", region_name=self.variant.region)

        def one(messages: Messages) -> Completion:
            system, turns = to_converse(messages)
            t0 = time.perf_counter()
            resp = client.converse(
                modelId=self.variant.model,
                messages=turns,
                system=system,
                inferenceConfig={
                    "temperature": settings.temperature,
                    "maxTokens": settings.max_new_tokens,
                },
            )
            parts = resp["output"]["message"]["content"]
            usage = resp.get("usage", {})
            return Completion(
                "".join(p.get("text", "") for p in parts),
                usage.get("inputTokens", 0),
                usage.get("outputTokens", 0),
                time.perf_counter() - t0,
            )

        return concurrent_map(one, conversations, settings.concurrency)


@dataclass
class ClassifierBackend:
    """An embedding classifier folder (see classifier.py): no generation, answers in batches."""

    variant: Variant

    def identity(self) -> dict[str, Any]:
        from tunewise.registry.integrity import folder_sha256

        return {
            "kind": "classifier",
            "model": self.variant.model,
            "classifier_sha256": folder_sha256(self.variant.model),
        }

    def complete(self, conversations: list[Messages], settings: Settings) -> list[Completion]:
        from .classifier import load_classifier

        clf = load_classifier(self.variant.model)
        out: list[Completion] = []
        for start in range(0, len(conversations), max(1, settings.batch_size)):
            batch = conversations[start : start + max(1, settings.batch_size)]
            t0 = time.perf_counter()
            answers = clf.predict_batch(batch)
            elapsed = time.perf_counter() - t0  # the batch's wall time, as local models report it
            out += [Completion(a, latency_s=elapsed) for a in answers]
        return out


backend("local")(LocalBackend)
backend("classifier")(ClassifierBackend)
backend("openai")(OpenAIBackend)
backend("bedrock")(BedrockBackend)
