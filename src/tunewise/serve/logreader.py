"""Reading the request log back: the monitor's `RequestSource` over the `request_log` table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from tunewise.monitor.requests import Request, request_from_dict
from tunewise.serve.tables import RequestLogRow

BATCH = 2000


def row_dict(r: RequestLogRow) -> dict[str, Any]:
    """A stored row in the shape `tunewise.monitor.requests` documents."""
    from tunewise.store.base import as_utc

    prompt: Any = None
    if r.prompt:
        try:
            prompt = json.loads(r.prompt)
        except ValueError:
            prompt = r.prompt
    return {
        "time": as_utc(r.at).isoformat(),
        "request_id": r.request_id,
        "feature": r.feature,
        "arm": r.arm,
        "model": r.model,
        "user": r.user_hash,
        "latency_ms": r.latency_ms,
        "tokens_in": r.tokens_in,
        "tokens_out": r.tokens_out,
        "status": r.status,
        "error_code": r.error_code,
        "scores": {k: v for k, v in (r.scores or {}).items() if isinstance(v, int | float)},
        "prompt": prompt,
        "answer": r.answer,
    }


class StoreRequests:
    """Rows the gateway logged for a feature in a time window, read in batches."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def iter_requests(
        self, feature: str, since: datetime, until: datetime | None = None
    ) -> Iterator[Request]:
        from sqlalchemy import select

        from tunewise.store import transaction

        last = 0
        while True:
            query = (
                select(RequestLogRow)
                .where(RequestLogRow.feature == feature, RequestLogRow.at >= since)
                .where(RequestLogRow.id > last)
                .order_by(RequestLogRow.id)
                .limit(BATCH)
            )
            if until is not None:
                query = query.where(RequestLogRow.at < until)
            with transaction(self.engine) as s:
                rows = [(r.id, row_dict(r)) for r in s.scalars(query)]
            for _, row in rows:
                yield request_from_dict(row)
            if len(rows) < BATCH:
                return
            last = rows[-1][0]
