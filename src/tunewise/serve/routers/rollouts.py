"""Admin routes of the rollout controller (an admin key when keys exist):

GET  /v1/tunewise/rollouts                    recent rollouts of every feature
POST /v1/tunewise/rollouts                    start one {model, feature, steps, interval, ...}
GET  /v1/tunewise/rollouts/{feature}          status: figures, stages, decisions, lease
POST /v1/tunewise/rollouts/{feature}/pause    {reason}
POST /v1/tunewise/rollouts/{feature}/resume   {reason}
POST /v1/tunewise/rollouts/{feature}/abort    {reason}: canary share 0 now
GET  /v1/tunewise/checklist/{feature}?model=M the pre-deploy checklist
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from tunewise.errors import (
    ConfigError,
    RegistryError,
    RolloutError,
    RolloutNotFound,
    TunewiseError,
)
from tunewise.serve.auth import KeyInfo, require_admin
from tunewise.serve.errors import ApiError, InvalidRequest, NotFound

router = APIRouter(prefix="/v1/tunewise")
T = TypeVar("T")


class Conflict(ApiError):
    status = 409
    code = "rollout_conflict"


class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    feature: str = Field(min_length=1)
    steps: list[float] | str | None = None
    interval: str | None = None
    min_requests: int | None = Field(None, gt=0)
    shadow: float = Field(0.0, ge=0, le=100)
    force: bool = False
    reason: str | None = Field(None, max_length=2000)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=2000)


def _engine(request: Request) -> Any:
    store = request.app.state.store
    if store is None:
        raise NotFound(
            "this server runs without a store: rollouts need one (--db)", code="no_store"
        )
    return store.engine


def _by(key: KeyInfo | None) -> str:
    return f"key:{key.name}" if key else "admin-route"


async def _call(fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """Run a library call off the event loop; its errors as OpenAI-shaped 4xx."""
    try:
        return await asyncio.to_thread(fn, *args, **kw)
    except RolloutNotFound as exc:
        raise NotFound(str(exc), param="feature", code="rollout_not_found") from None
    except RolloutError as exc:
        raise Conflict(str(exc)) from None
    except RegistryError as exc:
        raise Conflict(str(exc), code="registry_refused") from None
    except ConfigError as exc:
        raise InvalidRequest(str(exc), code="invalid_value") from None
    except TunewiseError as exc:
        raise InvalidRequest(str(exc)) from None


@router.get("/rollouts")
async def list_all(request: Request, _: KeyInfo | None = Depends(require_admin)) -> dict[str, Any]:
    from tunewise.serve.rollout.api import list_rollouts

    return {"object": "list", "data": await _call(list_rollouts, _engine(request))}


@router.post("/rollouts")
async def start(
    body: StartBody, request: Request, key: KeyInfo | None = Depends(require_admin)
) -> dict[str, Any]:
    from tunewise.serve.rollout.api import launch

    overrides = {
        k: v for k, v in (("steps", body.steps), ("interval", body.interval),
                          ("min_requests", body.min_requests)) if v is not None
    }  # fmt: skip
    out = await _call(
        launch, _engine(request), body.model, body.feature, request.app.state.rollout,
        overrides=overrides, shadow=body.shadow, force=body.force, reason=body.reason, by=_by(key),
    )  # fmt: skip
    await request.app.state.gateway.refresh()
    return out


@router.get("/rollouts/{feature}")
async def status(
    feature: str, request: Request, _: KeyInfo | None = Depends(require_admin)
) -> dict[str, Any]:
    from tunewise.serve.rollout.api import rollout_status

    return await _call(rollout_status, _engine(request), feature)


@router.post("/rollouts/{feature}/{action}")
async def act(
    feature: str,
    action: str,
    request: Request,
    body: ReasonBody | None = None,
    key: KeyInfo | None = Depends(require_admin),
) -> dict[str, Any]:
    from tunewise.serve.rollout import api

    fns = {"pause": api.pause_rollout, "resume": api.resume_rollout, "abort": api.abort_rollout}
    if action not in fns:
        raise NotFound(f"Unknown rollout action '{action}': use pause, resume or abort.",
                       code="unknown_url")  # fmt: skip
    reason = body.reason if body else None
    out = await _call(fns[action], _engine(request), feature, reason=reason, by=_by(key))
    await request.app.state.gateway.refresh()
    return out


@router.get("/checklist/{feature}")
async def checklist(
    feature: str,
    request: Request,
    model: str | None = None,
    _: KeyInfo | None = Depends(require_admin),
) -> dict[str, Any]:
    from tunewise.serve.rollout.checklist import missing_items, run_checklist

    ctx = request.app.state.rollout
    items = await _call(
        run_checklist, _engine(request), feature, model, project=ctx.project,
        project_source=ctx.source, golden_sha256=ctx.golden_sha256(),
    )  # fmt: skip
    return {"feature": feature, "model": model, "ready": not missing_items(items),
            "items": [i.as_dict() for i in items]}  # fmt: skip
