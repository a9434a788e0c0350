"""`GET /healthz` and `GET /metrics` (Prometheus text), for load balancers and scrapers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from tunewise.serve.dispatch import Gateway

router = APIRouter()


@router.get("/healthz")
async def healthz(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    circuits = gw.breakers.states()
    failing = sorted(k for k, state in circuits.items() if state != "closed")
    body: dict[str, Any] = {
        # The process serves; a model whose circuit is open is reported, not a reason to take
        # the replica out of the load balancer (the other models still answer).
        "status": "degraded" if failing else "ok",
        "upstreams": [up.name for up, _ in gw.upstreams],
        "open_circuits": failing,
        "features": len(gw.catalog.features),
        "models": len(gw.catalog.models),
    }
    return JSONResponse(body)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    data, content_type = gw.metrics.render()
    return Response(data, media_type=content_type)
