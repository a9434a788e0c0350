"""`create_app(config)`: the gateway's FastAPI app, built from a ServeConfig and a store URL.

Tests build it with their own database and upstreams; `tunewise serve` runs it under uvicorn.
The lifespan starts the upstreams, the catalog refresher and the request-log writer, and stops
them in reverse order. One set of exception handlers renders every error as OpenAI's
`{"error": {...}}`; an unexpected exception is logged with its traceback and answered with a
500 that names the request id, never the traceback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tunewise.serve.auth import KeyRing
from tunewise.serve.config import ServeConfig, UpstreamConfig
from tunewise.serve.dispatch import Gateway
from tunewise.serve.errors import ApiError
from tunewise.serve.metrics import Metrics
from tunewise.serve.requestlog import RequestLog
from tunewise.serve.state import StoreView
from tunewise.serve.upstreams.base import create_upstream

if TYPE_CHECKING:
    from tunewise.serve.rollout.context import RolloutContext

log = logging.getLogger("tunewise.serve")
_UNION_TAG = re.compile(r"^(int|float|str|bool|constrained-\w+|[a-z-]+\[.*\])$")


def create_app(
    config: ServeConfig,
    *,
    db_url: str | None = None,
    pii: Any = None,
    rollout: RolloutContext | None = None,
) -> FastAPI:
    """The gateway app. `db_url` names the store (aliases, flags, keys, request log); without
    one it serves only the base models its upstreams list, with no keys and no log. `pii` is the
    data stage's PIIConfig used to scrub logged text (default: its defaults). `rollout` is what
    rollouts take from the project (default: the `rollout:` defaults); with a store, the app
    runs the rollout controller loop and shadow traffic."""
    from tunewise.serve.rollout.context import RolloutContext
    from tunewise.serve.rollout.runtime import RolloutRuntime
    from tunewise.serve.routers import (
        admin,
        chat,
        feedback,
        files,
        fine_tuning,
        models,
        ops,
        rollouts,
        ui,
    )

    metrics = Metrics()
    upstreams = [(create_upstream(name, cfg), cfg) for name, cfg in config.upstreams.items()]
    if not any(cfg.kind == "classifier" for cfg in config.upstreams.values()):
        # Registered embedding classifiers are servable with no configuration; MiniLM loads on
        # the first request for one, so this costs nothing until a classifier is routed to.
        implicit = UpstreamConfig(kind="classifier", max_tokens=config_max_tokens(config))
        upstreams.append((create_upstream("classifiers", implicit), implicit))
    ring = KeyRing()
    store = StoreView(db_url, ring) if db_url else None
    gateway = Gateway(config, upstreams, store.catalog if store else None, metrics)
    requestlog = RequestLog(lambda: store.engine, config, metrics, pii) if store else None
    rollout = rollout or RolloutContext()
    if requestlog is not None:
        gateway.sink = requestlog.record
        requestlog.schema = rollout.schema
    runtime = (
        RolloutRuntime(gateway, lambda: store.engine, rollout.config, schema=rollout.schema)
        if store
        else None
    )  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        if requestlog is not None:
            await requestlog.start()
        if runtime is not None:
            await runtime.start()
        if getattr(app.state, "on_ready", None) is not None:
            app.state.on_ready()  # `tunewise serve` says it is up only once it is
        try:
            yield
        finally:
            if runtime is not None:
                await runtime.close()
            await gateway.close()
            if requestlog is not None:
                await requestlog.close()

    app = FastAPI(title="tunewise", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.gateway = gateway
    app.state.keys = ring
    app.state.store = store
    app.state.requestlog = requestlog
    app.state.config = config
    app.state.rollout = rollout
    app.state.runtime = runtime
    install_error_handlers(app)
    for module in (chat, models, admin, ops, feedback, rollouts, ui):
        app.include_router(module.router)
    if db_url and config.fine_tuning.enabled:
        from tunewise.serve.finetune.service import FineTuning

        app.state.fine_tuning = FineTuning(db_url, config.fine_tuning)
        app.include_router(files.router)
        app.include_router(fine_tuning.router)
    return app


def config_max_tokens(config: ServeConfig) -> int:
    """The largest `max_tokens` any configured upstream allows (a label never needs more)."""
    return max((cfg.max_tokens for cfg in config.upstreams.values()), default=1024)


def _error(
    status: int, message: str, type_: str, code: str | None, param: str | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Every error as `{"error": {message, type, param, code}}` with the right status."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc.errors())

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            msg = f"Unknown request URL: {request.method} {request.url.path}."
            return _error(404, msg, "invalid_request_error", "unknown_url")
        if exc.status_code == 405:
            msg = f"Method {request.method} is not allowed on {request.url.path}."
            return _error(405, msg, "invalid_request_error", "method_not_allowed")
        if exc.status_code == 400:  # FastAPI could not read the body (e.g. JSON nested too deeply)
            msg = f"{exc.detail}: send a JSON object"
            return _error(400, msg, "invalid_request_error", "invalid_json")
        return _error(exc.status_code, str(exc.detail), "invalid_request_error", None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(
            500,
            "The server had an error while processing your request (logged on the server).",
            "server_error",
            "internal_error",
        )


_TYPE_ERRORS = {"int_type", "int_parsing", "int_from_float", "float_type", "float_parsing",
                "bool_type", "bool_parsing", "string_type", "list_type", "dict_type",
                "model_type", "model_attributes_type"}  # fmt: skip


def validation_error(errors: Sequence[Any]) -> JSONResponse:
    """FastAPI's body/query/path validation errors as OpenAI's 400, naming the first bad field."""
    first: dict[str, Any] = dict(errors[0]) if errors else {}
    kind, raw_loc = first.get("type"), [str(p) for p in first.get("loc", ())]
    if kind == "json_invalid":  # loc is ("body", <character offset>): not a field
        why = (first.get("ctx") or {}).get("error", "")
        msg = f"the request body is not valid JSON ({why}); send a JSON object"
        return _error(400, msg, "invalid_request_error", "invalid_json")
    # Drop where it came from (body/query/path) and pydantic's union-member tags (`int`).
    loc = [p for p in raw_loc if not _UNION_TAG.match(p)]
    loc = loc[1:] if loc[:1] in (["body"], ["query"], ["path"]) else loc
    param = ".".join(loc) or None
    if param is None and raw_loc[:1] == ["body"]:  # the body itself: empty, or not an object
        msg = "the request body must be a JSON object"
        return _error(400, msg, "invalid_request_error", "invalid_json")
    if kind == "missing":
        msg = f"Missing required parameter: '{param}'."
        return _error(400, msg, "invalid_request_error", "missing_required_parameter", param)
    text = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    code = "invalid_type" if kind in _TYPE_ERRORS else "invalid_value"
    return _error(400, f"Invalid value for '{param}': {text}", "invalid_request_error", code, param)
