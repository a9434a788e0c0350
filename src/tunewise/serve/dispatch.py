"""The gateway's core: from a validated request to an answer, through routing and fault handling.

For each request: resolve `model` in the current catalog snapshot (a feature, a registered
model, `feature@alias`, or a base an upstream serves), pick the user's arm, send it to the first
upstream that serves the target, retrying transient faults within the retry budget and skipping
upstreams whose circuit is open. A canary fault falls back to control for that request and is
counted against the canary. So does a canary's `Unsupported` refusal (tools, logprobs, JSON mode
on a `local` canary): control answers and the request log shows `canary_error:
unsupported_parameter`, but the breaker never counts it (the upstream is healthy; opening its
circuit would cut its other traffic). A stream can still fall back before its first chunk; after
that a failure is a broken stream, counted and reported to the client as an error event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tunewise.serve.catalog import Catalog, unknown_model
from tunewise.serve.config import ServeConfig, UpstreamConfig
from tunewise.serve.errors import (
    ApiError,
    InvalidRequest,
    ModelUnavailable,
    NotFound,
    UpstreamError,
    UpstreamTimeout,
)
from tunewise.serve.exchange import Exchange
from tunewise.serve.faults import Breakers, RetryBudget
from tunewise.serve.metrics import Metrics
from tunewise.serve.routing import CANARY, CONTROL, arm_for
from tunewise.serve.schemas import ChatCompletionRequest
from tunewise.serve.upstreams.base import ChatChunk, ChatRequest, ChatResult, ModelTarget, Upstream

log = logging.getLogger("tunewise.serve")
T = TypeVar("T")
MISS_REFRESH_S = 0.25


@dataclass(frozen=True)
class Decision:
    feature: str | None
    arm: str
    target: ModelTarget
    fallback: ModelTarget | None = None


class Gateway:
    """Upstreams, the catalog snapshot and the fault state of one server process."""

    def __init__(
        self,
        config: ServeConfig,
        upstreams: list[tuple[Upstream, UpstreamConfig]],
        load_catalog: Callable[[], Catalog] | None,
        metrics: Metrics,
        sink: Callable[[Exchange], None] | None = None,
    ) -> None:
        self.config = config
        self.sink = sink
        self.observers: list[Callable[[Exchange], None]] = []
        """Called with each finished request before the log gets it (shadow traffic)."""
        self.upstreams = upstreams
        self.metrics = metrics
        self.catalog = Catalog()
        self._load_catalog = load_catalog
        self.breakers = Breakers(
            config.breaker_failures, config.breaker_cooldown_s, metrics.circuit_open
        )
        self.budget = RetryBudget(config.retry_budget)
        self._prepared: dict[tuple[str, ModelTarget], asyncio.Task[None]] = {}
        self._refresher: asyncio.Task[None] | None = None
        self._refreshed_at = 0.0
        self._miss_lock = asyncio.Lock()

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        for up, _ in self.upstreams:
            await up.start()
        await self.refresh()
        if self._load_catalog is not None:
            self._refresher = asyncio.create_task(self._refresh_loop())

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        for up, _ in self.upstreams:
            try:
                await up.close()
            except Exception:  # closing the others matters more than this one's error
                log.exception("closing upstream %s failed", up.name)

    async def refresh(self) -> None:
        """Swap in a fresh catalog; on a store error keep the last good one."""
        if self._load_catalog is None:
            return
        try:
            self.catalog = await asyncio.to_thread(self._load_catalog)
            self._refreshed_at = time.monotonic()
        except Exception as exc:
            self.metrics.catalog_errors.inc()
            log.warning("reading the catalog from the store failed (%s); keeping the last one", exc)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.flags_ttl_s)
            await self.refresh()

    # ---- resolution -----------------------------------------------------------------------------

    def served_models(self) -> list[str]:
        return [name for up, _ in self.upstreams for name in up.models()]

    async def resolve(self, model: str, user: str | None) -> Decision:
        """`decide`, after one fresh read of the catalog when the name is unknown: a model
        registered a moment ago (a fine-tuning job that just succeeded, in another process)
        answers at once rather than after `flags_ttl_s`. Misses reread at most every 0.25 s."""
        try:
            return self.decide(model, user)
        except NotFound:
            if self._load_catalog is None:
                raise
        async with self._miss_lock:
            if time.monotonic() - self._refreshed_at > MISS_REFRESH_S:
                await self.refresh()
        return self.decide(model, user)

    def decide(self, model: str, user: str | None) -> Decision:
        """The arm and target for `model` and this user; NotFound when nothing answers to it."""
        cat = self.catalog
        feature = cat.features.get(model)
        if feature is not None:
            if feature.control is None:
                raise ModelUnavailable(
                    f"feature '{model}' has no {CONTROL} model: promote one with "
                    f"`tunewise registry promote MODEL --feature {model}`",
                    param="model",
                )
            arm = arm_for(model, user, feature.flag, feature.canary is not None)
            if arm == CANARY:
                assert feature.canary is not None
                return Decision(model, CANARY, feature.canary, fallback=feature.control)
            return Decision(model, CONTROL, feature.control)
        target = cat.find_model(model)
        if target is None and model in self.served_models():
            target = ModelTarget(name=model, kind="base", base=model)
        if target is None:
            raise unknown_model(model, cat, self.served_models())
        feature_name = model.split("@", 1)[0] if model in cat.aliases else None
        return Decision(feature_name, "direct", target)

    def upstream_for(self, target: ModelTarget) -> tuple[Upstream, UpstreamConfig]:
        for up, cfg in self.upstreams:
            if up.serves(target):
                return up, cfg
        raise ModelUnavailable(
            f"no upstream serves '{target.name}' ({target.kind} on {target.base}); add one under "
            "serve.upstreams in tunewise.yaml",
            param="model",
        )

    def chat_request(
        self, creq: ChatCompletionRequest, cfg: UpstreamConfig, request_id: str
    ) -> ChatRequest:
        asked = creq.requested_max_tokens()
        if asked is not None and asked > cfg.max_tokens:
            param = "max_completion_tokens" if creq.max_completion_tokens else "max_tokens"
            raise InvalidRequest(
                f"max_tokens is too large: {asked}. This model supports at most {cfg.max_tokens} "
                "completion tokens here (serve.upstreams.*.max_tokens).",
                param=param,
                code="invalid_value",
            )
        return ChatRequest(
            messages=creq.messages_text(),
            max_tokens=asked or cfg.max_tokens,
            temperature=creq.temperature,
            top_p=creq.top_p,
            stop=creq.stop_list(),
            seed=creq.seed,
            deadline=time.monotonic() + cfg.timeout_s,
            request_id=request_id,
            extra=creq.extra_fields(),
        )

    # ---- serving --------------------------------------------------------------------------------

    async def complete(self, creq: ChatCompletionRequest, ex: Exchange) -> ChatResult:
        """The whole answer, with fallback from a faulty (or refusing) canary."""

        async def call(up: Upstream, req: ChatRequest, target: ModelTarget) -> ChatResult:
            return await up.chat(req, target)

        result = await self._serve(creq, ex, call)
        ex.tokens_in, ex.tokens_out = result.usage.prompt_tokens, result.usage.completion_tokens
        ex.answer = result.content
        return result

    async def open_stream(
        self, creq: ChatCompletionRequest, ex: Exchange
    ) -> tuple[ChatChunk, AsyncIterator[ChatChunk], Callable[[], float]]:
        """The first chunk and the rest of the stream; failures before the first chunk fall back."""
        holder: dict[str, float] = {}

        async def call(
            up: Upstream, req: ChatRequest, target: ModelTarget
        ) -> tuple[ChatChunk, AsyncIterator[ChatChunk]]:
            agen = up.stream(req, target)
            try:
                async with asyncio.timeout(req.remaining()):
                    first = await anext(agen)
                    # Chunks without text (a role-only opener) are not tokens: a stream that
                    # dies before its first token can still fall back.
                    while not (first.content or first.finish_reason or first.usage):
                        first = await anext(agen)
            except BaseException:
                await _aclose(agen)
                raise
            holder["deadline"] = req.deadline
            return first, agen

        first, rest = await self._serve(creq, ex, call)
        return first, rest, lambda: holder["deadline"] - time.monotonic()

    async def _serve(
        self,
        creq: ChatCompletionRequest,
        ex: Exchange,
        call: Callable[[Upstream, ChatRequest, ModelTarget], Awaitable[T]],
    ) -> T:
        decision = await self.resolve(creq.model, ex.user)
        ex.feature, ex.arm = decision.feature, decision.arm
        if decision.feature and not ex.user:
            self.metrics.anonymous.labels(decision.feature).inc()
        self.budget.deposit()
        try:
            return await self._attempt(creq, ex, decision.target, call)
        except ApiError as exc:
            if decision.fallback is None or not (exc.fault or exc.capability):
                raise
            return await self._fall_back(creq, ex, decision, exc, call)

    async def _fall_back(
        self,
        creq: ChatCompletionRequest,
        ex: Exchange,
        decision: Decision,
        exc: ApiError,
        call: Callable[[Upstream, ChatRequest, ModelTarget], Awaitable[T]],
    ) -> T:
        """Control's answer after the canary failed with `exc`; the user still gets an answer and
        the failure stays counted against the canary (a candidate that cannot serve what control
        serves is no drop-in replacement)."""
        assert decision.fallback is not None
        canary = (ex.model, ex.upstream)
        ex.fallback, ex.canary_error, ex.arm = True, exc.code, CONTROL
        try:
            out = await self._attempt(creq, ex, decision.fallback, call)
        except ApiError as again:
            if exc.fault or again.fault:
                raise
            # Control refused too (both local, say): the client's request, not a canary failure;
            # logged as the canary's own 400, which the rollout does not count.
            ex.fallback, ex.canary_error, ex.arm = False, None, decision.arm
            ex.model, ex.upstream = canary
            raise exc from None
        self.metrics.fallbacks.labels(decision.feature or "").inc()
        return out

    async def _attempt(
        self,
        creq: ChatCompletionRequest,
        ex: Exchange,
        target: ModelTarget,
        call: Callable[[Upstream, ChatRequest, ModelTarget], Awaitable[T]],
    ) -> T:
        up, cfg = self.upstream_for(target)
        ex.model, ex.upstream = target.name, up.name
        req = self.chat_request(creq, cfg, ex.request_id)
        breaker = self.breakers.get(up.name, target.name)
        tries = 0
        while True:
            if not breaker.allow():
                wait = max(1, round(breaker.retry_after_s()))
                raise ModelUnavailable(
                    f"'{target.name}' on upstream '{up.name}' keeps failing (circuit open); "
                    f"retry in {wait}s",
                    code="circuit_open",
                    headers={"Retry-After": str(wait)},
                )
            try:
                await self._prepare(up, target)
                async with asyncio.timeout(req.remaining()):
                    out = await call(up, req, target)
            except Exception as raw:
                exc = as_api_error(raw)
                if not exc.fault:  # the upstream answered (the request was bad): it is healthy
                    self.breakers.success(up.name, target.name)
                    raise exc from raw
                self.fault(up.name, target.name, exc.code or "error")
                if (
                    exc.retryable
                    and tries < cfg.retries
                    and self._time_left(req)
                    and self.budget.withdraw()
                ):
                    tries += 1
                    ex.retries += 1
                    self.metrics.retries.labels(up.name).inc()
                    continue
                raise exc from raw
            self.breakers.success(up.name, target.name)
            return out

    def record(self, ex: Exchange) -> None:
        """Count a finished request in the metrics and hand it to the request log."""
        ex.finish()
        feature, arm = ex.feature or "", ex.arm or ""
        m = self.metrics
        m.requests.labels(feature, arm, ex.model or "", str(ex.status)).inc()
        if ex.status < 400:
            m.latency.labels(feature, arm).observe(ex.latency_ms / 1000)
            m.tokens.labels(feature, arm, "in").inc(ex.tokens_in)
            m.tokens.labels(feature, arm, "out").inc(ex.tokens_out)
        if ex.first_token_s is not None:
            m.ttft.labels(feature, arm).observe(ex.first_token_s)
        for observe in self.observers:
            try:
                observe(ex)
            except Exception:  # an observer must never fail the request it watches
                log.exception("request observer failed")
        if self.sink is not None:
            self.sink(ex)

    def fault(self, upstream: str, model: str, code: str) -> None:
        """Count a fault of `model` on `upstream` (also called for a stream that broke mid-way)."""
        self.metrics.upstream_faults.labels(upstream, code).inc()
        self.breakers.failure(upstream, model)

    @staticmethod
    def _time_left(req: ChatRequest) -> bool:
        return req.deadline - time.monotonic() > 0.05

    async def _prepare(self, up: Upstream, target: ModelTarget) -> None:
        key = (up.name, target)
        task = self._prepared.get(key)
        if task is None or (task.done() and task.exception() is not None):
            task = self._prepared[key] = asyncio.ensure_future(up.prepare(target))
        await asyncio.shield(task)


def as_api_error(exc: BaseException) -> ApiError:
    """Any failure inside an upstream call as an ApiError (a bug is a fault, not a 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return UpstreamTimeout("the upstream did not answer in time")
    if isinstance(exc, StopAsyncIteration):
        return UpstreamError("the upstream ended the stream without sending anything")
    log.exception("upstream call failed", exc_info=exc)
    return UpstreamError(f"the upstream failed: {type(exc).__name__}: {exc}")


async def _aclose(agen: AsyncIterator[ChatChunk]) -> None:
    close = getattr(agen, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # the stream is being abandoned; its close error changes nothing
            log.debug("closing an upstream stream failed", exc_info=True)
