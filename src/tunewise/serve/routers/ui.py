"""`GET /ui`: the read-only page of features and rollouts (see serve/rollout/page.py).

When API keys exist it needs an admin key, sent as a bearer token or, so that a browser can
open it, as the password of HTTP Basic authentication (any user name).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tunewise.serve.errors import AuthenticationFailed, PermissionDenied

router = APIRouter()
BASIC = {"WWW-Authenticate": 'Basic realm="tunewise", charset="UTF-8"'}


def _token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[2] or None
        except ValueError:
            return None
    return None


async def _require_admin(request: Request) -> None:
    try:
        info = await request.app.state.keys.check(_token(request))
    except AuthenticationFailed as exc:
        exc.headers.update(BASIC)  # lets a browser ask for the key
        raise
    if info is not None and not info.admin:
        raise PermissionDenied(f"key '{info.name}' is not an admin key; /ui needs one")


def _features(request: Request) -> list[dict[str, Any]]:
    catalog = request.app.state.gateway.catalog
    return [
        {"feature": f.name, "control": f.control.name if f.control else None,
         "canary": f.canary.name if f.canary else None, "canary_percent": f.flag.canary_bp / 100,
         "killed": f.flag.killed}
        for f in sorted(catalog.features.values(), key=lambda f: f.name)
    ]  # fmt: skip


def _statuses(engine: Any) -> list[dict[str, Any]]:
    """The latest rollout of every feature that had one."""
    from sqlalchemy import select

    from tunewise.serve.rollout.api import rollout_status
    from tunewise.serve.rollout.tables import Rollout
    from tunewise.store import transaction

    with transaction(engine) as s:
        with_rollouts = set(s.scalars(select(Rollout.feature).distinct()))
    return [rollout_status(engine, f) for f in sorted(with_rollouts)]


@router.get("/ui", response_class=HTMLResponse)
async def ui(request: Request) -> HTMLResponse:
    from tunewise.serve.rollout.page import render_page
    from tunewise.store.base import utcnow

    await _require_admin(request)
    features = _features(request)
    store = request.app.state.store
    statuses: list[dict[str, Any]] = []
    if store is not None:
        statuses = await asyncio.to_thread(_statuses, store.engine)
    page = render_page(features, statuses, utcnow().isoformat()[:19])
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
