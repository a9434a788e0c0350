"""One controller per feature: a lease row in the store, taken and renewed with an expiry.

Every `tunewise serve` runs a controller loop (and cron may run `tunewise rollout tick`); before
it looks at a feature's rollout it takes that feature's lease, or renews it when it already
holds it. A lease another process holds and that has not expired means hands off. Each change
a controller makes re-checks, in the same transaction, that it still holds the lease (the row
is locked: `SELECT ... FOR UPDATE` on PostgreSQL, the write lock of `BEGIN IMMEDIATE` on
SQLite), so a process that stalled past its expiry cannot act on a rollout another has taken
over. Expiry uses each server's UTC clock: keep them in sync (NTP) to well under the lease.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tunewise.serve.rollout.tables import RolloutLease
from tunewise.store import transaction
from tunewise.store.base import as_utc, utcnow


def new_holder() -> str:
    """This process's name in lease rows: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:200]


def _locked(s: Session, feature: str) -> RolloutLease:
    values = {
        "feature": feature,
        "holder": None,
        "expires_at": datetime(1970, 1, 1, tzinfo=UTC),
        "acquired_at": utcnow(),
    }
    dialect = s.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    s.execute(insert(RolloutLease).values(**values).on_conflict_do_nothing())
    query = select(RolloutLease).where(RolloutLease.feature == feature).with_for_update()
    return s.scalars(query.execution_options(populate_existing=True)).one()


def acquire(
    engine: Engine, feature: str, holder: str, ttl: timedelta, now: datetime | None = None
) -> str | None:
    """Take or renew `feature`'s lease for `ttl`. Returns None when `holder` now holds it,
    else the name of the process that does."""
    now = now or utcnow()
    with transaction(engine) as s:
        row = _locked(s, feature)
        if row.holder not in (None, holder) and as_utc(row.expires_at) > now:
            return row.holder
        if row.holder != holder:
            row.holder, row.acquired_at = holder, now
        row.expires_at = now + ttl
        return None


def holds(s: Session, feature: str, holder: str, now: datetime | None = None) -> bool:
    """Inside a transaction about to act: does `holder` still hold the lease (row locked)?"""
    row = _locked(s, feature)
    return row.holder == holder and as_utc(row.expires_at) > (now or utcnow())


def release(engine: Engine, feature: str, holder: str) -> None:
    """Give the lease up (at shutdown), so another server takes over at once."""
    with transaction(engine) as s:
        row = _locked(s, feature)
        if row.holder == holder:
            row.holder, row.expires_at = None, utcnow()


def lease_of(engine: Engine, feature: str) -> dict[str, str | None]:
    """Who holds the lease and until when (for status)."""
    with transaction(engine) as s:
        row = s.get(RolloutLease, feature)
        if row is None:
            return {"holder": None, "expires_at": None}
        return {"holder": row.holder, "expires_at": as_utc(row.expires_at).isoformat()}
