"""API keys: created once and shown once, stored as sha256, revoked by id.

A key looks like `tw-<43 url-safe characters>` (256 bits from `secrets`); the store keeps its
sha256 and a short prefix for listings. Admin keys may also change flags and rollouts.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Engine, func, select

from tunewise.errors import ConfigError
from tunewise.serve.auth import KeyInfo, hash_key
from tunewise.serve.tables import ApiKey
from tunewise.store import transaction
from tunewise.store.base import as_utc, utcnow


def create_key(
    engine: Engine, name: str, *, admin: bool = False, by: str, key: str | None = None
) -> tuple[str, dict[str, Any]]:
    """(the key itself, its record); the key is not stored and cannot be shown again. `key`
    imports an existing secret (at least 32 characters) instead of generating one."""
    if not name.strip() or len(name) > 128:
        raise ConfigError("a key needs a name of 1 to 128 characters (who or what uses it)")
    if key is not None and len(key) < 32:
        raise ConfigError("an imported key must have at least 32 characters")
    key = key or "tw-" + secrets.token_urlsafe(32)
    row = ApiKey(
        id="key_" + secrets.token_hex(8),
        name=name.strip(),
        prefix=key[:10],
        sha256=hash_key(key),
        admin=admin,
        created_by=by,
    )
    with transaction(engine) as s:
        s.add(row)
        s.flush()
        return key, key_dict(row)


def list_keys(engine: Engine, *, include_revoked: bool = False) -> list[dict[str, Any]]:
    with transaction(engine) as s:
        query = select(ApiKey).order_by(ApiKey.created_at)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        return [key_dict(r) for r in s.scalars(query)]


def revoke_key(engine: Engine, key_id: str) -> dict[str, Any]:
    with transaction(engine) as s:
        row = s.get(ApiKey, key_id, with_for_update=True)
        if row is None:
            raise ConfigError(f"no API key with id '{key_id}'; `tunewise keys list` shows the ids")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return key_dict(row)


def count_live_keys(engine: Engine) -> int:
    with transaction(engine) as s:
        return int(
            s.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None)))
            or 0
        )


def live_keys(s: Any) -> dict[str, KeyInfo]:
    """sha256 -> KeyInfo of every key not revoked (read with the catalog)."""
    rows = s.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None)))
    return {r.sha256: KeyInfo(r.id, r.name, r.admin) for r in rows}


def find_key(engine: Engine, digest: str) -> KeyInfo | None:
    """The live key with this sha256, if any (a key created since the last refresh)."""
    with transaction(engine) as s:
        r = s.scalar(select(ApiKey).where(ApiKey.sha256 == digest, ApiKey.revoked_at.is_(None)))
        return KeyInfo(r.id, r.name, r.admin) if r else None


def key_dict(r: ApiKey) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "prefix": r.prefix + "…",
        "admin": r.admin,
        "created_at": as_utc(r.created_at).isoformat(),
        "created_by": r.created_by,
        "revoked_at": as_utc(r.revoked_at).isoformat() if r.revoked_at else None,
    }
