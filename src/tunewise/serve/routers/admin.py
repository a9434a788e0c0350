"""Admin routes (an admin key when keys exist): feature flags. The rollout controller's routes
join them here."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from tunewise.serve.auth import KeyInfo, require_admin
from tunewise.serve.errors import InvalidRequest, NotFound
from tunewise.serve.routing import BUCKETS, Flag

router = APIRouter(prefix="/v1/tunewise")


class FlagUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    canary_percent: float | None = Field(None, ge=0, le=100)
    killed: bool | None = None
    reason: str | None = Field(None, max_length=2000)


def _engine(request: Request) -> Any:
    store = request.app.state.store
    if store is None:
        raise NotFound("this server runs without a store: flags need one (--db)", code="no_store")
    return store.engine


@router.get("/flags")
async def get_flags(request: Request, _: KeyInfo | None = Depends(require_admin)) -> dict[str, Any]:
    from tunewise.serve.flags import list_flags

    data = await asyncio.to_thread(list_flags, _engine(request))
    return {"object": "list", "data": data}


@router.put("/flags/{feature}")
async def put_flag(
    feature: str, update: FlagUpdate, request: Request, key: KeyInfo | None = Depends(require_admin)
) -> dict[str, Any]:
    """Set the canary share (`canary_percent`) or the kill switch (`killed: true`)."""
    from tunewise.serve.flags import feature_aliases, set_flag, unknown_feature

    if update.canary_percent is None and update.killed is None:
        raise InvalidRequest(
            "send canary_percent (0-100) or killed (true/false)", param="canary_percent"
        )
    features, aliases = await asyncio.to_thread(feature_aliases, _engine(request), feature)
    if not aliases:  # as `tunewise flags set`: a typo must not look like a kill switch that worked
        raise NotFound(
            unknown_feature(feature, features), param="feature", code="feature_not_found"
        )
    current = request.app.state.gateway.catalog.features.get(feature)
    bp = (
        round(update.canary_percent * BUCKETS / 100)
        if update.canary_percent is not None
        else (current.flag.canary_bp if current else 0)
    )
    killed = update.killed if update.killed is not None else False
    by = f"key:{key.name}" if key else "admin-route"
    flag = await asyncio.to_thread(
        set_flag, _engine(request), feature, Flag(bp, killed), by=by, reason=update.reason
    )
    await request.app.state.gateway.refresh()  # this replica sees it at once; others within the TTL
    return flag
