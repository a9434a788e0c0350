"""Validation against a training target: schema, role and format rules, limits.

A target is `openai:<model>`, `bedrock:<family>` or `local:<model>`. `validate_row` returns every
schema, role and format violation of one row, each naming the field
(`messages[2].role: 'bot' is not one of system, user, assistant, tool`). Token counting with the
target's tokenizer lives in `tunewise.data.tokens` (re-exported here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tunewise.data.schema import Row
from tunewise.data.tokens import count_tokens, tiktoken_encoding
from tunewise.errors import ConfigError

__all__ = ["Target", "count_tokens", "parse_target", "tiktoken_encoding", "validate_row"]

ROLES = ("system", "user", "assistant", "tool")

# OpenAI per-example limits and encodings (REFERENCE.md; check platform.openai.com before relying on them).
_OPENAI = [
    ("gpt-3.5", "cl100k_base", 16_385),
    ("gpt-4o", "o200k_base", 65_536),
    ("gpt-4.1", "o200k_base", 65_536),
]
# Bedrock families: (record format, per-record token limit). Limits are the documented
# customization context lengths as of 2025 and are approximate; token counts use cl100k_base as a proxy
# because the providers' tokenizers are not available offline.
BEDROCK = {
    "nova": ("converse", 32_000),
    "llama3.2": ("converse", 16_000),
    "claude-3-haiku": ("alternating", 32_000),
    "llama3.1": ("prompt_completion", 8_000),
    "titan": ("prompt_completion", 4_096),
}


@dataclass(frozen=True)
class Target:
    """Where the data will be trained, and that platform's rules."""

    spec: str
    kind: str  # openai | bedrock | local
    name: str
    min_examples: int
    max_tokens: int
    encoding: str | None = None  # tiktoken encoding; None for local (the model's own tokenizer)
    format: str = "chat"  # chat | converse | alternating | prompt_completion
    tools: bool = True
    dpo: bool = True
    weights: bool = True

    @property
    def tokens_exact(self) -> bool:
        """False where the count is a proxy (Bedrock: provider tokenizers are not public)."""
        return self.kind != "bedrock"


def parse_target(spec: str) -> Target:
    """`openai:gpt-4o-mini-2024-07-18` -> Target with its limits; ConfigError for unknown targets."""
    kind, _, name = spec.partition(":")
    if kind == "openai" and name:
        for prefix, enc, limit in _OPENAI:
            if name.startswith(prefix) or name.startswith("ft:" + prefix):
                return Target(spec, kind, name, 10, limit, enc)
        return Target(spec, kind, name, 10, 65_536, "o200k_base")
    if kind == "bedrock" and name:
        family = next((f for f in BEDROCK if name.startswith(f) or f in name), None)
        if family is None:
            raise ConfigError(
                f"target {spec!r}: unknown Bedrock family; use one of {', '.join('bedrock:' + f for f in BEDROCK)}"
            )
        fmt, limit = BEDROCK[family]
        return Target(
            spec, kind, family, 10, limit, "cl100k_base", fmt, tools=False, dpo=False, weights=False
        )
    if kind == "local" and name:
        return Target(spec, kind, name, 1, _local_limit(name), None)
    raise ConfigError(
        f"target {spec!r}: must look like openai:<model>, bedrock:<family> or local:<model>"
    )


# ---------------------------------------------------------------- validation


def validate_row(row: Row, target: Target) -> list[str]:
    """Every violation of the target's schema and role rules, each as `field: problem; fix`."""
    if row.kind == "dpo":
        return _validate_dpo(row, target)
    problems: list[str] = []
    msgs = row.messages
    if not msgs:
        return ["messages: empty; every example needs at least a user and an assistant message"]
    for i, m in enumerate(msgs):
        problems.extend(_validate_message(m, f"messages[{i}]", target))
    roles = [m.get("role") for m in msgs]
    if roles[-1] != "assistant":
        problems.append(
            f"messages[{len(msgs) - 1}].role: the last message must be the assistant's answer, got {roles[-1]!r}"
        )
    if "user" not in roles:
        problems.append("messages: no user message; add the input the model should answer")
    weights = [m.get("weight", 1) for m in msgs if m.get("role") == "assistant"]
    if weights and not any(w == 1 for w in weights):
        problems.append(
            "messages: every assistant message has weight 0, so there is nothing to train on"
        )
    if row.tools is not None and not target.tools:
        problems.append(f"tools: {target.spec} does not train on tool definitions; remove them")
    problems.extend(_format_rules(roles, target))
    return problems


def _validate_message(m: dict[str, Any], where: str, target: Target) -> list[str]:
    problems: list[str] = []
    role = m.get("role")
    if role not in ROLES and not (role == "function" and target.kind == "openai"):
        problems.append(f"{where}.role: {role!r} is not one of {', '.join(ROLES)}")
    content = m.get("content")
    if content is None:
        if not (role == "assistant" and m.get("tool_calls")):
            problems.append(
                f"{where}.content: missing; every {role or 'message'} message needs text"
            )
    elif isinstance(content, list):
        allowed = ("text", "image_url") if target.kind == "openai" else ("text",)
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in allowed:
                problems.append(
                    f"{where}.content[{j}]: expected a part with type {' or '.join(allowed)}"
                )
            elif part["type"] == "text" and not isinstance(part.get("text"), str):
                problems.append(f"{where}.content[{j}].text: expected a string")
    elif not isinstance(content, str):
        problems.append(
            f"{where}.content: expected a string or a list of content parts, got {type(content).__name__}"
        )
    if "weight" in m:
        w = m["weight"]
        if role != "assistant":
            problems.append(f"{where}.weight: only assistant messages may carry a weight")
        elif isinstance(w, bool) or w not in (0, 1):
            problems.append(f"{where}.weight: must be 0 or 1, got {w!r}")
        elif not target.weights:
            problems.append(
                f"{where}.weight: {target.spec} does not support per-message weights; remove it"
            )
    if "tool_calls" in m:
        problems.extend(_validate_tool_calls(m["tool_calls"], role, where, target))
    if role == "tool" and not isinstance(m.get("tool_call_id"), str):
        problems.append(
            f"{where}.tool_call_id: required on tool messages (the id of the call it answers)"
        )
    if "name" in m and not isinstance(m["name"], str):
        problems.append(f"{where}.name: expected a string")
    return problems


def _validate_tool_calls(calls: Any, role: Any, where: str, target: Target) -> list[str]:
    if role != "assistant":
        return [f"{where}.tool_calls: only assistant messages may call tools"]
    if not target.tools:
        return [f"{where}.tool_calls: {target.spec} does not train on tool calls; remove them"]
    if not isinstance(calls, list) or not calls:
        return [f"{where}.tool_calls: expected a non-empty array of calls"]
    problems = []
    for k, call in enumerate(calls):
        at = f"{where}.tool_calls[{k}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            problems.append(f"{at}.function.name: required (a string)")
            continue
        args = fn.get("arguments")
        if not isinstance(args, str):
            problems.append(
                f"{at}.function.arguments: must be a JSON string (json.dumps the object), got {type(args).__name__}"
            )
        else:
            try:
                json.loads(args)
            except (
                ValueError
            ) as exc:  # no quote of the text: it may hold PII that is redacted later
                where = (
                    f" ({exc.msg} at char {exc.pos})"
                    if isinstance(exc, json.JSONDecodeError)
                    else ""
                )
                problems.append(f"{at}.function.arguments: not valid JSON{where}")
        if not isinstance(call.get("id"), str):
            problems.append(f"{at}.id: required (a string the tool message refers to)")
    return problems


def _format_rules(roles: list[Any], target: Target) -> list[str]:
    if target.format == "chat":
        return []
    body = roles[1:] if roles and roles[0] == "system" else roles
    if "system" in body:
        i = roles.index("system", 1 if roles[0] == "system" else 0)
        return [
            f"messages[{i}].role: {target.spec} allows one system message, first; merge it into the first"
        ]
    if "tool" in body:
        return [
            f"messages[{roles.index('tool')}].role: {target.spec} has no tool role; remove tool turns"
        ]
    if target.format == "prompt_completion" and body != ["user", "assistant"]:
        return [
            f"messages: {target.spec} trains on prompt/completion pairs: exactly one user then one assistant message, got {len(body)} turns"
        ]
    offset = len(roles) - len(body)
    for i, r in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        if r != expected:
            return [
                f"messages[{i + offset}].role: {target.spec} needs turns alternating user/assistant starting with user; got {r!r}, expected {expected!r}"
            ]
    return []


def _validate_dpo(row: Row, target: Target) -> list[str]:
    if not target.dpo:
        return [
            f"preferred_output: {target.spec} does not support preference (DPO) rows; use chat rows"
        ]
    problems = []
    for i, m in enumerate(row.messages):
        problems.extend(_validate_message(m, f"input.messages[{i}]", target))
    if not row.messages or row.messages[-1].get("role") != "user":
        problems.append("input.messages: must end with the user message both outputs answer")
    for key, out in (
        ("preferred_output", row.preferred_output),
        ("non_preferred_output", row.non_preferred_output),
    ):
        if not out or len(out) != 1 or out[0].get("role") != "assistant":
            problems.append(f"{key}: expected exactly one assistant message")
        else:
            problems.extend(_validate_message(out[0], f"{key}[0]", target))
    return problems


def _local_limit(name: str) -> int:
    return 2048 if name in {"smollm2-135m", "smollm2"} else 4096
