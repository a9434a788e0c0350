"""Feature flags: a feature's canary share and kill switch, in the store, with their history.

`tunewise flags set support canary=10` (or the admin route, or the rollout controller) writes
here; every server reads the flags with its catalog every `serve.flags_ttl_s`, so a change
reaches all replicas within that time and no restart. `canary=off` is the kill switch: the share
drops to zero for everyone and stays there until someone sets a share again.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tunewise.errors import ConfigError
from tunewise.serve.routing import BUCKETS, Flag
from tunewise.serve.tables import ServeFlag, ServeFlagEvent
from tunewise.store import transaction
from tunewise.store.base import as_utc, utcnow

_FEATURE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def parse_setting(text: str) -> Flag:
    """`canary=10` (percent of users, decimals allowed), `canary=0`, or `canary=off` (kill)."""
    key, sep, value = text.partition("=")
    if key.strip() != "canary" or not sep:
        raise ConfigError(f"'{text}': expected canary=PERCENT (0-100) or canary=off")
    value = value.strip().lower().removesuffix("%")
    if value in {"off", "kill", "killed"}:
        return Flag(0, killed=True)
    try:
        percent = float(value)
    except ValueError:
        raise ConfigError(
            f"'{text}': '{value}' is not a percentage; use canary=10 or canary=off"
        ) from None
    if not 0 <= percent <= 100:
        raise ConfigError(f"'{text}': the canary share must be between 0 and 100 percent")
    return Flag(round(percent * BUCKETS / 100), killed=False)


def feature_aliases(engine: Engine, feature: str) -> tuple[set[str], dict[str, bool]]:
    """(every feature the registry's aliases name, {alias: holds a model} for `feature`): a
    flag for a name no alias uses routes nothing, so the CLI refuses a typo'd kill switch."""
    from tunewise.registry.tables import Alias

    with transaction(engine) as s:
        rows = s.execute(select(Alias.feature, Alias.alias, Alias.model_id)).all()
    mine = {alias: model_id is not None for f, alias, model_id in rows if f == feature}
    return {f for f, _, _ in rows}, mine


def unknown_feature(feature: str, features: set[str]) -> str:
    """Why a flag on a feature no registry alias names is refused (the CLI and the admin route)."""
    known = ", ".join(sorted(features)) or "none yet"
    return (
        f"no feature '{feature}' in the registry (features: {known}); a flag on it would route "
        f"nothing. Promote a model first: tunewise registry promote MODEL --feature {feature}"
    )


def set_flag(
    engine: Engine, feature: str, flag: Flag, *, by: str, reason: str | None = None
) -> dict[str, Any]:
    """Store `flag` for `feature` and record the change; returns the flag as a dict."""
    with transaction(engine) as s:
        return write_flag(s, feature, flag, by=by, reason=reason)


def write_flag(
    s: Session, feature: str, flag: Flag, *, by: str, reason: str | None = None
) -> dict[str, Any]:
    """`set_flag` inside the caller's transaction (the rollout controller changes the share
    together with its own records)."""
    if not _FEATURE.match(feature):
        raise ConfigError(
            f"feature '{feature}' is not a valid name: letters, digits, '.', '_' or '-'"
        )
    row = s.get(ServeFlag, feature, with_for_update=True)
    if row is None:
        row = ServeFlag(feature=feature, updated_by=by)
        s.add(row)
    row.canary_bp, row.killed, row.updated_at, row.updated_by = (
        flag.canary_bp,
        flag.killed,
        utcnow(),
        by,
    )
    s.add(
        ServeFlagEvent(
            feature=feature, canary_bp=flag.canary_bp, killed=flag.killed, by=by, reason=reason
        )
    )
    s.flush()
    return flag_dict(row)


def read_flags(s: Session) -> dict[str, Flag]:
    """Every feature's flag, for the catalog snapshot."""
    return {r.feature: Flag(r.canary_bp, r.killed) for r in s.scalars(select(ServeFlag))}


def list_flags(engine: Engine) -> list[dict[str, Any]]:
    with transaction(engine) as s:
        return [flag_dict(r) for r in s.scalars(select(ServeFlag).order_by(ServeFlag.feature))]


def flag_history(engine: Engine, feature: str) -> list[dict[str, Any]]:
    with transaction(engine) as s:
        rows = s.scalars(
            select(ServeFlagEvent)
            .where(ServeFlagEvent.feature == feature)
            .order_by(ServeFlagEvent.id)
        )
        return [
            {"canary_percent": r.canary_bp / 100, "killed": r.killed, "by": r.by, "reason": r.reason,
             "at": as_utc(r.created_at).isoformat()}
            for r in rows
        ]  # fmt: skip


def flag_dict(r: ServeFlag) -> dict[str, Any]:
    return {
        "feature": r.feature,
        "canary_percent": r.canary_bp / 100,
        "killed": r.killed,
        "effective_percent": 0.0 if r.killed else r.canary_bp / 100,
        "updated_by": r.updated_by,
        "updated_at": as_utc(r.updated_at).isoformat(),
    }
