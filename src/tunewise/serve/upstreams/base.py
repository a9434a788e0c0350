"""The upstream protocol: what the gateway asks of a model server, and the registry of kinds.

An upstream is one configured model server (`serve.upstreams.NAME` in tunewise.yaml) of a kind
(`local`, `openai`, `bedrock`, or a plugin's). The gateway resolves a request's `model` to a
`ModelTarget`, picks the first upstream whose `serves(target)` is true, and calls `chat` or
`stream`. Contract (also in docs/PLAN.md, "Serving"):

- `max_tokens` in a `ChatRequest` is already within the upstream's configured limit and filled in
  when the client left it out; `deadline` is a `time.monotonic()` instant the answer must beat.
- Errors are `tunewise.serve.errors` classes, never bare exceptions: `Overloaded(retry_after_s=)`
  when the queue is full (429 + Retry-After), `UpstreamTimeout` past the deadline (504),
  `ContextLengthExceeded` / `InvalidRequest(param=...)` for input the model cannot take (400, not
  a fault), `Unsupported(param=...)` for a feature this upstream cannot honour but another might
  (400, not a fault; a canary falls back to control), `ModelUnavailable` when the target cannot be served here (adapter missing, trained on
  another base) and `UpstreamError` for anything else that failed (502). The gateway turns any
  other exception into an `UpstreamError`, so a bug counts as a fault, not a 500 with a traceback.
- `stream` yields at least one chunk; the last one has `finish_reason` and `usage` set. If the
  consumer stops early (client gone), the generator is closed (`aclose`): free the slot there.
- `prepare(target)` is called before a target's first request and again when an alias moves; it
  loads or checks what the target needs (adapter base hash, vLLM's adapter list) and is cheap
  when already done.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from tunewise.errors import ConfigError
from tunewise.serve.config import UpstreamConfig
from tunewise.serve.errors import UpstreamTimeout

Message = dict[str, Any]
"""An OpenAI chat message, `{"role": ..., "content": str}`; text content parts are joined."""


@dataclass(frozen=True)
class ModelTarget:
    """What should answer: a base model, an adapter or full fine-tune on a base, or a hosted model."""

    name: str
    """The name the client sees in responses and headers (registered model or base name)."""
    kind: Literal["base", "adapter", "full", "provider", "classifier"]
    base: str | None = None
    """Base model id or folder (`smollm2-135m`, a path, `HuggingFaceTB/...`)."""
    base_hash: str | None = None
    """`tunewise.models.model_hash` of the base the target was trained on (None when unknown)."""
    path: str | None = None
    """The adapter folder (kind adapter) or the model folder (kind full)."""
    content_hash: str | None = None
    """The adapter's weights hash (`tunewise.infer.adapter_identity`), pinning what is served."""
    provider_model: str | None = None
    """The id the remote server knows it by: `ft:...`, a Bedrock ARN, a vLLM LoRA name."""


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion, validated by the gateway."""

    messages: list[Message]
    max_tokens: int
    temperature: float | None = None
    """None: the upstream's default; 0: greedy."""
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    deadline: float = float("inf")
    """`time.monotonic()` by which the whole answer must be done."""
    request_id: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Other OpenAI fields (`response_format`, `tools`, ...) for upstreams that understand them."""

    def remaining(self) -> float:
        """Seconds left before the deadline; raises UpstreamTimeout when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise UpstreamTimeout("the request's deadline passed before the upstream answered")
        return left


def refuse_unsupported(req: ChatRequest, upstream: str) -> None:
    """`Unsupported` (400 `unsupported_parameter`, naming the field) for an OpenAI feature this
    upstream cannot honour: tool calls, log probabilities, or JSON mode. Ignoring them would answer
    as if they had been honoured (no tool call ever made, no logprobs, JSON not enforced). Neutral
    values pass (`tools: []`, `logprobs: false`, `response_format: {"type": "text"}`). On a canary
    the gateway falls back to control (see dispatch.py)."""
    from tunewise.serve.errors import Unsupported

    x = req.extra
    fmt = x.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    asked = {
        "tools": bool(x.get("tools")) or bool(x.get("functions")),
        "tool_choice": x.get("tool_choice") not in (None, "none", "auto"),
        "logprobs": bool(x.get("logprobs")) or bool(x.get("top_logprobs")),
        "response_format": fmt is not None and kind != "text",
    }
    what = {"tools": "tool calls", "tool_choice": "tool calls", "logprobs": "log probabilities",
            "response_format": f"response_format {kind!r} (constrained JSON output)"}  # fmt: skip
    for field_name, wanted in asked.items():
        if wanted:
            raise Unsupported(
                f"upstream '{upstream}' does not support {what[field_name]}; leave out "
                f"'{field_name}', or route this model to an upstream that does (openai, vllm)",
                param=field_name,
            )


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ChatResult:
    """A whole answer."""

    content: str
    finish_reason: str = "stop"
    """`stop`, `length`, `tool_calls` or `content_filter`, as OpenAI reports it."""
    usage: Usage = field(default_factory=Usage)
    message: Message | None = None
    """The full assistant message when there is more than text (tool calls); else built from content."""


@dataclass
class ChatChunk:
    """A piece of a streamed answer."""

    content: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


@runtime_checkable
class Upstream(Protocol):
    """A model server the gateway forwards to. See the module doc for the error contract."""

    name: str
    kind: str

    async def start(self) -> None:
        """Open clients, load models, start workers. Called once, in the server's lifespan."""

    async def close(self) -> None:
        """Stop workers and close clients; pending requests get an error, not a hang."""

    def serves(self, target: ModelTarget) -> bool:
        """Whether this upstream can answer for `target` (cheap, no I/O)."""

    async def prepare(self, target: ModelTarget) -> None:
        """Load or check what `target` needs; raises ModelUnavailable when it cannot be served."""

    async def chat(self, req: ChatRequest, target: ModelTarget) -> ChatResult:
        """The whole answer."""

    def stream(self, req: ChatRequest, target: ModelTarget) -> AsyncIterator[ChatChunk]:
        """The answer in pieces (an async generator)."""

    def models(self) -> list[str]:
        """Model names this upstream serves on its own (its base models), for /v1/models."""


UpstreamFactory = Callable[[str, UpstreamConfig], Upstream]
"""Builds an upstream from its name and config (`config.options(Model)` reads the kind's fields)."""

_FACTORIES: dict[str, UpstreamFactory] = {}
_BUILTIN = {
    "local": "tunewise.serve.upstreams.local",
    "openai": "tunewise.serve.upstreams.openai",
    "bedrock": "tunewise.serve.upstreams.bedrock",
    "classifier": "tunewise.serve.upstreams.classifier",
}
_ENTRY_POINTS = "tunewise.upstreams"


def register_upstream(kind: str, factory: UpstreamFactory) -> None:
    """Make `kind` available in `serve.upstreams.*.kind`; built-ins register the same way."""
    _FACTORIES[kind] = factory


def upstream_kinds() -> list[str]:
    """Every known kind: registered, built in, or offered by an installed plugin."""
    from importlib.metadata import entry_points

    plugins = {ep.name for ep in entry_points(group=_ENTRY_POINTS)}
    return sorted(set(_FACTORIES) | set(_BUILTIN) | plugins)


def _load_kind(kind: str) -> UpstreamFactory:
    if kind not in _FACTORIES and kind in _BUILTIN:
        importlib.import_module(_BUILTIN[kind])  # registers itself on import
    if kind not in _FACTORIES:
        from importlib.metadata import entry_points

        for ep in entry_points(group=_ENTRY_POINTS, name=kind):
            ep.load()  # a plugin module that calls register_upstream
    if kind not in _FACTORIES:
        raise ConfigError(
            f"unknown upstream kind '{kind}'; known kinds: {', '.join(upstream_kinds())}"
        )
    return _FACTORIES[kind]


def create_upstream(name: str, config: UpstreamConfig) -> Upstream:
    """An upstream instance for `serve.upstreams.NAME` (not started yet)."""
    return _load_kind(config.kind)(name, config)


T = TypeVar("T", bound=BaseModel)


def read_options(name: str, config: UpstreamConfig, model: type[T]) -> T:
    """The kind-specific fields of `serve.upstreams.NAME`, validated by `model`; every problem is
    reported at once with its path."""
    try:
        return model.model_validate(config.model_extra or {})
    except ValidationError as exc:
        from tunewise.config import _humanize

        problems = "\n  ".join(
            f"serve.upstreams.{name}.{_humanize(e)}"  # type: ignore[arg-type]
            for e in exc.errors()
        )
        raise ConfigError(f"upstream '{name}' ({config.kind}):\n  {problems}") from None
