"""User feedback on answers: a rating (0 bad .. 1 good) and/or an outcome label per response id,
joined to the request log so that it counts for the arm that served the answer.

A later feedback for the same response replaces the earlier one (a user who changes their
thumbs is one vote). Thumbs map to 1 and 0; a 1-5 star rating to (stars - 1) / 4.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from tunewise.serve.rollout.tables import Feedback
from tunewise.serve.tables import RequestLogRow
from tunewise.store import transaction
from tunewise.store.base import as_utc, utcnow


def record_feedback(
    engine: Engine,
    response_id: str,
    *,
    rating: float | None,
    outcome: str | None,
    comment: str | None,
    by: str,
) -> dict[str, Any] | None:
    """Store feedback for a logged response; None when the request log has no such response."""
    with transaction(engine) as s:
        req = s.scalars(
            select(RequestLogRow)
            .where(RequestLogRow.request_id == response_id)
            .order_by(RequestLogRow.id.desc())
        ).first()
        if req is None:
            return None
        row = s.scalars(select(Feedback).where(Feedback.request_id == response_id)).first()
        if row is None:
            row = Feedback(request_id=response_id)
            s.add(row)
        row.at, row.request_at, row.by = utcnow(), req.at, by[:128]
        row.feature, row.model = req.feature, req.model
        row.arm = "canary" if req.fallback else req.arm
        row.rating, row.outcome, row.comment = rating, outcome, comment
        s.flush()
        return feedback_dict(row)


def feedback_dict(row: Feedback) -> dict[str, Any]:
    return {
        "object": "feedback",
        "id": f"fb-{row.id}",
        "response_id": row.request_id,
        "feature": row.feature,
        "arm": row.arm,
        "model": row.model,
        "rating": row.rating,
        "outcome": row.outcome,
        "comment": row.comment,
        "created_at": int(as_utc(row.at).timestamp()),
    }
