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
    circuits = {name: b.state for name, b in gw.breakers.items()}
    body: dict[str, Any] = {
        "status": "ok",
        "upstreams": circuits,
        "features": len(gw.catalog.features),
        "models": len(gw.catalog.models),
    }
    # Every upstream refusing traffic: take this replica out of the load balancer.
    if circuits and all(state == "open" for state in circuits.values()):
        body["status"] = "unavailable"
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    data, content_type = gw.metrics.render()
    return Response(data, media_type=content_type)
