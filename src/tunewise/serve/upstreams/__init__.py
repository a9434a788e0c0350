"""Model servers behind one protocol (`base.py`); built-in kinds register like plugins."""

from tunewise.serve.upstreams.base import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    ModelTarget,
    Upstream,
    Usage,
    create_upstream,
    read_options,
    register_upstream,
)

__all__ = [
    "ChatChunk",
    "ChatRequest",
    "ChatResult",
    "ModelTarget",
    "Upstream",
    "Usage",
    "create_upstream",
    "read_options",
    "register_upstream",
]
