"""`GET /v1/models`: features, registered models and the bases upstreams serve."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from tunewise.serve.auth import require_client
from tunewise.serve.dispatch import Gateway

router = APIRouter()


def _model(name: str, owned_by: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": name,
        "object": "model",
        "created": int(time.time()),
        "owned_by": owned_by,
        **extra,
    }


@router.get("/v1/models", dependencies=[Depends(require_client)])
async def list_models(request: Request) -> dict[str, Any]:
    gw: Gateway = request.app.state.gateway
    cat = gw.catalog
    data = [
        _model(
            f.name,
            "tunewise:feature",
            control=f.control.name if f.control else None,
            canary=f.canary.name if f.canary else None,
            canary_percent=f.flag.canary_bp / 100,
            killed=f.flag.killed,
        )
        for f in cat.features.values()
    ]
    seen = {d["id"] for d in data}
    for name, target in cat.models.items():
        if name not in seen:
            seen.add(name)
            data.append(_model(name, "tunewise:registry", kind=target.kind, parent=target.base))
    for name in gw.served_models():
        if name not in seen:
            seen.add(name)
            data.append(_model(name, "tunewise:upstream", kind="base"))
    return {"object": "list", "data": data}
